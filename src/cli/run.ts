import { CommanderError, Command } from 'commander';
import { asRootforgeError, isAbortError } from '../errors.js';
import { packageVersion } from '../package-root.js';
import { cacheCommand } from './commands/cache.js';
import { buildCommand } from './commands/build.js';
import { doctorCommand } from './commands/doctor.js';
import { warmCommand } from './commands/warm.js';
import { inspectCommand } from './commands/inspect.js';
import { completionCommand } from './commands/completion.js';
import type { CommandContext } from './context.js';
import { applyConfig, applyEnv, describeEnv, knownOptionNames, loadConfig, locateConfig, type ConfigFile } from './config-file.js';
import { consolePrinter } from './output.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export function createProgram(context: CommandContext): Command {
  const program = new Command('rootforge')
    .description('Turn OCI and Docker images into bootable ext4 root filesystems for microVMs, without root.')
    .version(packageVersion());
  program.addCommand(warmCommand(context));
  program.addCommand(buildCommand(context));
  program.addCommand(inspectCommand(context));
  program.addCommand(cacheCommand(context));
  program.addCommand(doctorCommand(context));
  program.addCommand(completionCommand(context));
  configureAll(program, context);
  return program;
}

/** addCommand() does not pass settings down, so every command gets the same output and no process.exit. */
function configureAll(command: Command, context: CommandContext): void {
  command.exitOverride();
  command.showHelpAfterError('(run with --help for usage)');
  command.configureOutput({ writeOut: (s) => context.printer.data(s), writeErr: (s) => context.printer.error(s.trimEnd()) });
  if (command.commands.length === 0 && command.parent) {
    command.option('--config <file>', 'read option defaults from this JSON file (default: $XDG_CONFIG_HOME/rootforge/config.json)');
    describeEnv(command);
  }
  for (const sub of command.commands) configureAll(sub, context);
}

/** Each subcommand gets the config file's values, then the environment's, just before it parses its flags, which win. */
function useDefaults(program: Command, config: ConfigFile | undefined): void {
  const known = knownOptionNames(program);
  const hookAll = (command: Command): void => {
    if (command.commands.length === 0) return;
    command.hook('preSubcommand', (_parent, sub) => {
      if (config) applyConfig(sub, config, known);
      applyEnv(sub);
    });
    command.commands.forEach(hookAll);
  };
  hookAll(program);
}

/** Runs the CLI and returns its exit code; only the entry point below exits. */
export async function run(argv: string[]): Promise<number> {
  const controller = new AbortController();
  const context: CommandContext = { printer: consolePrinter, signal: controller.signal, exitCode: EXIT_OK };
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    context.printer.error('interrupted, cleaning up…');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const program = createProgram(context);
    const config = await loadConfig(locateConfig(argv, process.env));
    useDefaults(program, config);
    await program.parseAsync(argv, { from: 'user' });
    return interrupted ? EXIT_INTERRUPTED : context.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (interrupted || isAbortError(error)) return EXIT_INTERRUPTED;
    const e = asRootforgeError(error);
    context.printer.error(`rootforge: ${e.code}: ${e.toString()}\n  hint: ${e.hint}`);
    return e.code === 'ERR_USAGE' || e.code === 'ERR_INVALID_REFERENCE' || e.code === 'ERR_INVALID_PLATFORM' ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
