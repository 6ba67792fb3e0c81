import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { RootforgeError } from '../errors.js';

/** Defaults for any option, by its camelCase name (`cacheDir` for `--cache-dir`), read from a JSON file. */
export interface ConfigFile {
  path: string;
  values: Record<string, unknown>;
}

export const CONFIG_ENV = 'ROOTFORGE_CONFIG';

/** Variables outside the ROOTFORGE_* scheme that mean the same as a config key, and so beat it. */
const ENV_EQUIVALENTS: Record<string, string> = { caFile: 'SSL_CERT_FILE' };

/** `--config FILE` anywhere in argv, else $ROOTFORGE_CONFIG, else $XDG_CONFIG_HOME/rootforge/config.json (which may be absent). */
export function locateConfig(argv: readonly string[], env: NodeJS.ProcessEnv, home = homedir()): { path: string; explicit: boolean } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (arg === '--config' && argv[i + 1] !== undefined) return { path: resolve(argv[i + 1] as string), explicit: true };
    if (arg.startsWith('--config=')) return { path: resolve(arg.slice('--config='.length)), explicit: true };
  }
  if (env[CONFIG_ENV]) return { path: resolve(env[CONFIG_ENV]), explicit: true };
  const base = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  return { path: join(base, 'rootforge', 'config.json'), explicit: false };
}

export async function loadConfig(where: { path: string; explicit: boolean }): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(where.path, 'utf8');
  } catch (error) {
    if (!where.explicit && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RootforgeError('ERR_USAGE', `cannot read the config file ${where.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: `Fix the path given with --config or $${CONFIG_ENV}.`,
    });
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (error) {
    throw new RootforgeError('ERR_USAGE', `the config file ${where.path} is not valid JSON: ${(error as Error).message}`);
  }
  if (!values || typeof values !== 'object' || Array.isArray(values)) {
    throw new RootforgeError('ERR_USAGE', `the config file ${where.path} must hold one JSON object of option names and values`);
  }
  return { path: where.path, values: values as Record<string, unknown> };
}

/** Every option name any command takes, so a key no command knows (a typo) is an error, not silently ignored. */
export function knownOptionNames(program: Command): Set<string> {
  const names = new Set<string>();
  const visit = (command: Command): void => {
    for (const option of command.options) names.add(option.attributeName());
    command.commands.forEach(visit);
  };
  visit(program);
  return names;
}

/** Options that name a file or directory: relative values in the config are read from the config file's directory. */
function takesPath(option: Option): boolean {
  return /<(dir|file|path|list|file\.json)>/.test(option.flags);
}

function convert(option: Option, key: string, value: unknown, configDir: string): unknown {
  const fail = (why: string): never => {
    throw new RootforgeError('ERR_USAGE', `config key "${key}" (${option.flags}): ${why}`);
  };
  const parse = (text: string, previous: unknown): unknown => {
    const parsed = takesPath(option) ? resolve(configDir, text) : text;
    if (!option.parseArg) return parsed;
    try {
      return option.parseArg(parsed as string, previous);
    } catch (error) {
      return fail((error as Error).message);
    }
  };
  if (typeof value === 'boolean') return option.required || option.optional ? (value ? fail('expected a value, not true') : false) : value;
  if (typeof value === 'string') return parse(value, option.defaultValue);
  if (typeof value === 'number') return parse(String(value), option.defaultValue);
  if (Array.isArray(value)) {
    if (!Array.isArray(option.defaultValue) && !(option.defaultValue && typeof option.defaultValue === 'object')) fail('takes one value, not a list');
    return value.reduce<unknown>((acc, item) => (typeof item === 'string' ? parse(item, acc) : fail('expected a list of strings')), option.defaultValue);
  }
  if (value && typeof value === 'object' && option.defaultValue && typeof option.defaultValue === 'object' && !Array.isArray(option.defaultValue)) {
    // REGISTRY=HOST style options also take an object: {"docker.io": "mirror:5000"}.
    return Object.entries(value).reduce<unknown>((acc, [k, v]) => (typeof v === 'string' ? parse(`${k}=${v}`, acc) : fail('expected string values')), option.defaultValue);
  }
  return fail(`unexpected ${value === null ? 'null' : typeof value}`);
}

/** Sets the config's values on `command` as the 'config' source: flags and environment variables parsed afterwards win. */
export function applyConfig(command: Command, config: ConfigFile, known: ReadonlySet<string>, env: NodeJS.ProcessEnv = process.env): void {
  const unknown = Object.keys(config.values).filter((key) => !known.has(key));
  if (unknown.length) {
    throw new RootforgeError('ERR_USAGE', `the config file ${config.path} has unknown keys: ${unknown.join(', ')}`, {
      hint: 'Keys are option names in camelCase, e.g. "cacheDir" for --cache-dir; see the README.',
    });
  }
  for (const [key, value] of Object.entries(config.values)) {
    const options = command.options.filter((o) => o.attributeName() === key);
    if (options.length === 0 || key === 'config') continue;
    const equivalent = ENV_EQUIVALENTS[key];
    if (equivalent && env[equivalent]) continue;
    // `--inject <file>` and `--no-inject` share a name: false goes to the negation, a path to the other.
    const option = (typeof value === 'boolean' ? options.find((o) => !o.required && !o.optional) : options.find((o) => o.required || o.optional)) ?? (options[0] as Option);
    command.setOptionValueWithSource(key, convert(option, key, value, dirname(config.path)), 'config');
  }
}

/** `ROOTFORGE_<FLAG>` for every option that takes a value, e.g. ROOTFORGE_JOBS for --jobs. */
export function envNameFor(option: Option): string {
  return `ROOTFORGE_${option.name().toUpperCase().replace(/-/g, '_')}`;
}

function takesValue(option: Option): boolean {
  return option.required || option.optional;
}

/** Names every value option's variable in its help text. */
export function describeEnv(command: Command): void {
  for (const option of command.options) {
    if (takesValue(option) && option.name() !== 'config') option.description += ` [env: ${envNameFor(option)}]`;
  }
}

/**
 * Sets `ROOTFORGE_<FLAG>` values on `command` as the 'env' source, over any config value; flags parsed afterwards win.
 * Done here rather than with commander's Option.env(), which must be declared before the option is added.
 */
export function applyEnv(command: Command, env: NodeJS.ProcessEnv = process.env): void {
  for (const option of command.options) {
    const name = envNameFor(option);
    const value = env[name];
    if (!takesValue(option) || option.name() === 'config' || value === undefined || value === '') continue;
    let parsed: unknown = value;
    if (option.parseArg) {
      try {
        parsed = option.parseArg(value, option.defaultValue);
      } catch (error) {
        throw new RootforgeError('ERR_USAGE', `$${name}: ${(error as Error).message}`);
      }
    }
    if (option.argChoices && !option.argChoices.includes(value)) {
      throw new RootforgeError('ERR_USAGE', `$${name}: expected one of ${option.argChoices.join(', ')}`);
    }
    command.setOptionValueWithSource(option.attributeName(), parsed, 'env');
  }
}
