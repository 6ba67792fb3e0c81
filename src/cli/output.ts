import type { RunEvent } from '../batch/events.js';
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

/** Plain progress lines on stderr; the batch issue adds the live TTY view. */
export function eventLogger(printer: Printer, quiet: boolean): (event: RunEvent) => void {
  return (event) => {
    if (quiet && event.type !== 'warning') return;
    switch (event.type) {
      case 'stage':
        printer.log(`${event.image}: ${event.stage}`);
        break;
      case 'warning':
        printer.error(`${event.image}: warning: ${event.message}`);
        break;
      case 'image-done':
        if (event.status !== 'failed') printer.log(`${event.image}: ${event.status}`);
        break;
      default:
        break;
    }
  };
}

export function printSummary(printer: Printer, images: ImageResult[], json: boolean): void {
  if (json) {
    printer.data(JSON.stringify({ images }, null, 2) + '\n');
  }
  for (const image of images) {
    if (image.status === 'failed' && image.error) {
      printer.error(`${image.ref}: ${image.error.code}: ${image.error.message}\n  hint: ${image.error.hint}`);
    }
  }
  if (!json) {
    const ok = images.filter((i) => i.status === 'ok').length;
    const skipped = images.filter((i) => i.status === 'skipped').length;
    const failed = images.length - ok - skipped;
    printer.log(`${ok} ok, ${skipped} skipped, ${failed} failed`);
  }
}

export function exitCodeFor(images: ImageResult[]): number {
  return images.some((i) => i.status === 'failed') ? 1 : 0;
}
