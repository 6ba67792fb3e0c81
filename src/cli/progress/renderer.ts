import type { RunEvent } from '../../batch/events.js';
import type { ImageResult } from '../../batch/image-result.js';
import { fit, humanSeconds, imageLine, table, totalsLine } from './format.js';

export type ProgressMode = 'tty' | 'plain' | 'events' | 'quiet';

export function pickMode(opts: { isTTY: boolean; quiet: boolean; json: boolean; events: boolean }): ProgressMode {
  if (opts.events) return 'events';
  if (opts.quiet || opts.json) return 'quiet';
  return opts.isTTY ? 'tty' : 'plain';
}

export interface Output {
  write(text: string): unknown;
}

export interface RendererOptions {
  /** Progress and logs (stderr). */
  stream: Output;
  /** Machine-readable output (stdout): --events lines. */
  stdout: Output;
  mode: ProgressMode;
  color: boolean;
  columns?: number;
  now?: () => number;
}

interface Active {
  stage: string;
  startedAt: number;
  bytes?: number;
  totalBytes?: number;
  downloadStartedAt?: number;
  lastPrinted?: number;
}

const REDRAW_MS = 100;
const PLAIN_PROGRESS_MS = 1000;

/** Renders run events: a live view on a TTY, throttled lines elsewhere, NDJSON with --events. */
export class Renderer {
  private readonly active = new Map<string, Active>();
  private readonly totals = { done: 0, failed: 0, skipped: 0, total: 0 };
  private startedAt: number;
  private drawnLines = 0;
  private lastDraw = 0;
  private readonly now: () => number;

  constructor(private readonly opts: RendererOptions) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
  }

  onEvent = (event: RunEvent): void => {
    const { mode } = this.opts;
    if (mode === 'events') {
      this.opts.stdout.write(JSON.stringify(event) + '\n');
      return;
    }
    this.track(event);
    if (mode === 'quiet') {
      if (event.type === 'warning') this.above(`${event.image}: warning: ${event.message}`);
      return;
    }
    if (mode === 'plain') this.plain(event);
    else this.live(event);
  };

  private track(event: RunEvent): void {
    const at = this.now();
    switch (event.type) {
      case 'run-start':
        this.totals.total = event.images;
        this.startedAt = at;
        break;
      case 'image-start':
        this.active.set(event.image, { stage: 'queued', startedAt: at });
        break;
      case 'stage': {
        const a = this.active.get(event.image) ?? { stage: event.stage, startedAt: at };
        a.stage = event.stage;
        if (event.stage === 'download') a.downloadStartedAt = at;
        else delete a.totalBytes;
        this.active.set(event.image, a);
        break;
      }
      case 'progress': {
        const a = this.active.get(event.image);
        if (a && a.stage === 'download') {
          a.bytes = event.bytes;
          a.totalBytes = event.totalBytes;
        }
        break;
      }
      case 'image-done':
        this.active.delete(event.image);
        if (event.status === 'ok') this.totals.done++;
        else if (event.status === 'skipped') this.totals.skipped++;
        else this.totals.failed++;
        break;
      default:
        break;
    }
  }

  private line(image: string, a: Active): string {
    const at = this.now();
    const seconds = a.downloadStartedAt ? (at - a.downloadStartedAt) / 1000 : 0;
    const rate = a.bytes !== undefined && seconds > 0.2 ? a.bytes / seconds : undefined;
    return imageLine({
      image,
      stage: a.stage,
      ...(a.totalBytes !== undefined ? { bytes: a.bytes ?? 0, totalBytes: a.totalBytes } : {}),
      ...(rate ? { rate } : {}),
      elapsedSeconds: (at - a.startedAt) / 1000,
    });
  }

  private status(word: string): string {
    if (!this.opts.color) return word;
    // Plain SGR codes: util.styleText checks stdout for a TTY, but progress goes to stderr.
    const code = word === 'ok' ? 32 : word === 'skipped' ? 33 : 31;
    return `\x1b[${code}m${word}\x1b[39m`;
  }

  private plain(event: RunEvent): void {
    switch (event.type) {
      case 'stage':
        this.opts.stream.write(`${event.image}: ${event.stage}\n`);
        break;
      case 'progress': {
        const a = this.active.get(event.image);
        if (!a || (a.lastPrinted !== undefined && this.now() - a.lastPrinted < PLAIN_PROGRESS_MS)) return;
        a.lastPrinted = this.now();
        this.opts.stream.write(`${this.line(event.image, a)}\n`);
        break;
      }
      case 'warning':
        this.opts.stream.write(`${event.image}: warning: ${event.message}\n`);
        break;
      case 'image-done':
        this.opts.stream.write(`${event.image}: ${this.status(event.status)}${event.error ? ` ${event.error.code}` : ''}\n`);
        break;
      default:
        break;
    }
  }

  private live(event: RunEvent): void {
    if (event.type === 'warning') this.above(`${event.image}: warning: ${event.message}`);
    else if (event.type === 'image-done') this.above(`${event.image}: ${this.status(event.status)}${event.error ? ` ${event.error.code}` : ''}`);
    else if (this.now() - this.lastDraw >= REDRAW_MS || event.type === 'stage') this.draw();
  }

  /** Prints a line above the live area, then redraws it. */
  private above(text: string): void {
    this.erase();
    this.opts.stream.write(`${text}\n`);
    if (this.opts.mode === 'tty') this.draw();
  }

  private erase(): void {
    if (this.drawnLines > 0) this.opts.stream.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    this.drawnLines = 0;
  }

  private draw(): void {
    const columns = this.opts.columns ?? 80;
    const lines = [...this.active].map(([image, a]) => fit(this.line(image, a), columns));
    lines.push(fit(totalsLine({ ...this.totals, elapsedSeconds: (this.now() - this.startedAt) / 1000 }), columns));
    this.erase();
    this.opts.stream.write(lines.map((l) => `${l}\n`).join(''));
    this.drawnLines = lines.length;
    this.lastDraw = this.now();
  }

  /** Clears the live view and prints the final table (not with --events or --quiet). */
  finish(images: ImageResult[]): void {
    if (this.opts.mode === 'events' || this.opts.mode === 'quiet') return;
    this.erase();
    const rows = [['IMAGE', 'STATUS', 'OUTPUT / ERROR', 'TIME']];
    for (const image of images) {
      const total = Object.values(image.seconds ?? {}).reduce((a, b) => a + b, 0);
      rows.push([image.ref, image.status, image.error ? `${image.error.code}: ${image.error.message}` : (image.output ?? ''), humanSeconds(total)]);
    }
    // The table is not cut to the width: error messages must stay whole.
    const lines = table(rows);
    this.opts.stream.write(lines.map((l, i) => (i === 0 ? l : l.replace(` ${images[i - 1]?.status} `, ` ${this.status(images[i - 1]?.status ?? '')} `))).join('\n') + '\n');
  }
}
