import { Argument, Command } from 'commander';
import { completionScript, SHELLS, type Shell } from '../completion.js';
import type { CommandContext } from '../context.js';

export function completionCommand(context: CommandContext): Command {
  return new Command('completion')
    .description('print the shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(SHELLS))
    .addHelpText(
      'after',
      '\nLoad it in the current shell, or add the line to your shell start-up file:\n  bash: source <(rootforge completion bash)\n  zsh:  source <(rootforge completion zsh)\n  fish: rootforge completion fish | source',
    )
    .action(function (this: Command, shell: Shell) {
      context.printer.data(completionScript(this.parent as Command, shell));
    });
}
