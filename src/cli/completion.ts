/** Shell completion scripts for bash, zsh and fish, generated from the commander program so they never drift from it. */
import type { Command, Option } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

type ValueKind = 'none' | 'dir' | 'file' | 'choices' | 'word';

interface OptionSpec {
  long?: string;
  short?: string;
  description: string;
  kind: ValueKind;
  choices: string[];
}

interface CommandSpec {
  /** Words after `rootforge`: ['build'] or ['cache', 'ls']. */
  path: string[];
  description: string;
  options: OptionSpec[];
  /** Values an argument may take (`completion <shell>`). */
  argumentChoices: string[];
  subcommands: CommandSpec[];
}

function valueKind(option: Option): ValueKind {
  if (!option.required && !option.optional) return 'none';
  if (option.argChoices?.length) return 'choices';
  if (/<dir>/.test(option.flags)) return 'dir';
  if (/<(file|path|list|file\.json)>/.test(option.flags)) return 'file';
  return 'word';
}

function describeCommand(command: Command, path: string[]): CommandSpec {
  return {
    path,
    description: command.description(),
    options: command.options.map((o) => ({
      ...(o.long ? { long: o.long } : {}),
      ...(o.short ? { short: o.short } : {}),
      // Help text without the [env: …] note and quotes that would break the shells' quoting.
      description: o.description.replace(/\s*\[env: [^\]]*\]/, '').replace(/['"`$\\:[\]]/g, ''),
      kind: valueKind(o),
      choices: o.argChoices ?? [],
    })),
    argumentChoices: command.registeredArguments.flatMap((a) => a.argChoices ?? []),
    subcommands: command.commands.map((sub) => describeCommand(sub, [...path, sub.name()])),
  };
}

function flatten(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(flatten)];
}

const names = (o: OptionSpec): string[] => [o.short, o.long].filter((n): n is string => Boolean(n));
const oneLine = (text: string): string => text.replace(/['"`$\\]/g, '').split('\n')[0] ?? '';

function bash(root: CommandSpec): string {
  const all = flatten(root);
  const commandCases = all
    .map((c) => {
      const words = [...c.subcommands.map((s) => s.path.at(-1) as string), ...c.argumentChoices, ...c.options.flatMap(names), '--help'];
      return `    '${c.path.join(' ')}') words='${words.join(' ')}' ;;`;
    })
    .join('\n');
  const options = all.flatMap((c) => c.options);
  const flagsOf = (kind: ValueKind): string => [...new Set(options.filter((o) => o.kind === kind).flatMap(names))].join('|') || '--none';
  const choiceCases = [...new Map(options.filter((o) => o.kind === 'choices').map((o) => [names(o).join('|'), o.choices.join(' ')])).entries()]
    .map(([flags, choices]) => `    ${flags}) COMPREPLY=($(compgen -W '${choices}' -- "$cur")); return ;;`)
    .join('\n');
  const known = all.filter((c) => c.path.length > 0).map((c) => `|${c.path.join(' ')}|`).join('');
  return `# bash completion for rootforge; load with: source <(rootforge completion bash)
_rootforge() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local known='${known}' path="" word words i
  # The command path: the leading words that name a (sub)command; options follow their subcommand.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$known" in *"|\${path:+$path }$word|"*) path="\${path:+$path }$word" ;; *) break ;; esac
  done
  case "$prev" in
    ${flagsOf('dir')}) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    ${flagsOf('file')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
${choiceCases}
    ${flagsOf('word')}) COMPREPLY=(); return ;;
  esac
  case "$path" in
${commandCases}
    *) words='' ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _rootforge rootforge
`;
}

function zshValue(o: OptionSpec): string {
  switch (o.kind) {
    case 'dir':
      return ':dir:_files -/';
    case 'file':
      return ':file:_files';
    case 'choices':
      return `:value:(${o.choices.join(' ')})`;
    case 'word':
      return ':value:';
    default:
      return '';
  }
}

function zshFunctionName(c: CommandSpec): string {
  return ['_rootforge', ...c.path].join('_').replace(/-/g, '_');
}

function zsh(root: CommandSpec): string {
  const functions = flatten(root).map((c) => {
    const specs = c.options.map((o) => {
      const all = names(o);
      const exclusive = all.length > 1 ? `'(${all.join(' ')})'{${all.join(',')}}` : `'${all[0]}`;
      const body = `[${oneLine(o.description)}]${zshValue(o)}'`;
      return all.length > 1 ? `    ${exclusive}'${body}` : `    ${exclusive}${body}`;
    });
    if (c.subcommands.length > 0) {
      const described = c.subcommands.map((s) => `'${s.path.at(-1)}:${oneLine(s.description).replace(/:/g, '')}'`).join(' ');
      return `${zshFunctionName(c)}() {
  local -a subcommands
  subcommands=(${described})
  _arguments -C \\
${specs.map((s) => `${s} \\`).join('\n')}
    '1:command:->command' '*::arg:->args'
  case $state in
    command) _describe -t commands 'rootforge command' subcommands ;;
    args) local fn="${zshFunctionName(c)}_\${words[1]//-/_}"; (( $+functions[$fn] )) && $fn ;;
  esac
}`;
    }
    const operand = c.argumentChoices.length ? `'1:value:(${c.argumentChoices.join(' ')})'` : "'*:reference:'";
    return `${zshFunctionName(c)}() {
  _arguments \\
${specs.map((s) => `${s} \\`).join('\n')}
    ${operand}
}`;
  });
  return `#compdef rootforge
# zsh completion for rootforge; load with: source <(rootforge completion zsh), or save as _rootforge in your $fpath
${functions.join('\n\n')}

if [[ $zsh_eval_context[-1] == loadautoload ]]; then _rootforge "$@"; else compdef _rootforge rootforge; fi
`;
}

function fish(root: CommandSpec): string {
  const lines = ['# fish completion for rootforge; load with: rootforge completion fish | source', 'complete -c rootforge -f'];
  for (const c of flatten(root)) {
    const depth = c.path.length;
    // True when the words typed so far are exactly this command's path (and nothing deeper yet).
    const condition = depth === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${c.path.at(-1)}${c.subcommands.length ? `; and not __fish_seen_subcommand_from ${c.subcommands.map((s) => s.path.at(-1)).join(' ')}` : ''}`;
    for (const s of c.subcommands) lines.push(`complete -c rootforge -n '${condition}' -a ${s.path.at(-1)} -d '${oneLine(s.description).replace(/'/g, '')}'`);
    if (c.argumentChoices.length) lines.push(`complete -c rootforge -n '${condition}' -a '${c.argumentChoices.join(' ')}'`);
    for (const o of c.options) {
      const flags = [o.long ? `-l ${o.long.replace(/^--/, '')}` : '', o.short ? `-s ${o.short.replace(/^-/, '')}` : ''].filter(Boolean).join(' ');
      const value = o.kind === 'dir' ? " -x -a '(__fish_complete_directories)'" : o.kind === 'file' ? ' -r -F' : o.kind === 'choices' ? ` -x -a '${o.choices.join(' ')}'` : o.kind === 'word' ? ' -x' : '';
      lines.push(`complete -c rootforge -n '${condition}' ${flags}${value} -d '${oneLine(o.description).replace(/'/g, '')}'`);
    }
  }
  return lines.join('\n') + '\n';
}

export function completionScript(program: Command, shell: Shell): string {
  const root = describeCommand(program, []);
  return shell === 'bash' ? bash(root) : shell === 'zsh' ? zsh(root) : fish(root);
}
