import type { Printer } from './output.js';

/** What commands share with main: where to print, the run's abort signal, and the exit code they chose. */
export interface CommandContext {
  printer: Printer;
  signal: AbortSignal;
  exitCode: number;
}
