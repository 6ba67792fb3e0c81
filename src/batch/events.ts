import type { ErrorInfo } from '../errors.js';

export type Stage = 'resolve' | 'download' | 'replay' | 'stage' | 'mkfs' | 'debugfs' | 'finish' | 'write' | 'copy';

/** What a run reports while it goes; the CLI renders these, library users may follow them. Times are Date.now() milliseconds. */
export type RunEvent =
  | { type: 'run-start'; images: number; at: number }
  | { type: 'image-start'; image: string; at: number }
  | { type: 'stage'; image: string; stage: Stage; at: number }
  /** Bytes of this image's layers fetched so far (cached layers count as done), out of the total compressed size. */
  | { type: 'progress'; image: string; stage: Stage; bytes: number; totalBytes: number; at: number }
  | { type: 'layer'; image: string; digest: string; downloadedBytes: number; uncompressedBytes: number; at: number }
  | { type: 'warning'; image: string; message: string; at: number }
  | { type: 'image-done'; image: string; status: 'ok' | 'skipped' | 'failed'; error?: ErrorInfo; output?: string; seconds?: Record<string, number>; at: number }
  | { type: 'run-done'; ok: number; skipped: number; failed: number; seconds: number; at: number };

/** Events as callers emit them; the session stamps `at`. */
export type RunEventInput = RunEvent extends infer E ? (E extends { at: number } ? Omit<E, 'at'> : never) : never;

export type EventListener = (event: RunEvent) => void;
