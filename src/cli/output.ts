import { pickMode, Renderer } from './progress/renderer.js';
import type { ImageResult } from '../batch/image-result.js';

export interface Printer {
  log(line: string): void;
  error(line: string): void;
  data(text: string): void;
}

export const consolePrinter: Printer = {
  log: (line) => process.stderr.write(line + '\n'),
  error: (line) => process.stderr.write(line + '\n'),
  data: (text) => process.stdout.write(text),
};

/** The progress renderer for a command's flags: live on a TTY, plain lines elsewhere, NDJSON with --events. */
export function createRenderer(flags: { quiet?: boolean; json?: boolean; events?: boolean }, env: NodeJS.ProcessEnv = process.env): Renderer {
  const isTTY = Boolean(process.stderr.isTTY);
  return new Renderer({
    stream: process.stderr,
    stdout: process.stdout,
    mode: pickMode({ isTTY, quiet: Boolean(flags.quiet), json: Boolean(flags.json), events: Boolean(flags.events) }),
    color: isTTY && !env.NO_COLOR,
    columns: process.stderr.columns || 80,
  });
}

export function printSummary(printer: Printer, images: ImageResult[], json: boolean, events = false): void {
  if (events) {
    printer.data(JSON.stringify({ type: 'summary', images }) + '\n');
  } else if (json) {
    printer.data(JSON.stringify({ images }, null, 2) + '\n');
  }
  for (const image of images) {
    if (image.status === 'failed' && image.error) {
      printer.error(`${image.ref}: ${image.error.code}: ${image.error.message}\n  hint: ${image.error.hint}`);
    }
  }
  if (!json && !events) {
    const ok = images.filter((i) => i.status === 'ok').length;
    const skipped = images.filter((i) => i.status === 'skipped').length;
    const failed = images.length - ok - skipped;
    printer.log(`${ok} ok, ${skipped} skipped, ${failed} failed`);
  }
}

export function exitCodeFor(images: ImageResult[]): number {
  return images.some((i) => i.status === 'failed') ? 1 : 0;
}
