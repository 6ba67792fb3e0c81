import type { ErrorInfo } from '../errors.js';

export type Stage = 'resolve' | 'download' | 'replay' | 'stage' | 'mkfs' | 'debugfs' | 'write';

/** What a run reports while it goes; the CLI renders these, library users may follow them. */
export type RunEvent =
  | { type: 'image-start'; image: string }
  | { type: 'stage'; image: string; stage: Stage }
  | { type: 'layer'; image: string; digest: string; downloadedBytes: number; uncompressedBytes: number }
  | { type: 'warning'; image: string; message: string }
  | { type: 'image-done'; image: string; status: 'ok' | 'skipped' | 'failed'; error?: ErrorInfo };

export type EventListener = (event: RunEvent) => void;
