import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import { isAbortError, RootforgeError, type ErrorCode } from '../errors.js';
import { proxyRefusal } from './proxy.js';
import { parseRetryAfter } from './retry.js';
import { redactSecrets } from './redact.js';

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
const PERMANENT_NETWORK_CODES = new Set(['ENOTFOUND', 'UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_URL']);
const TLS_CODE = /^(CERT_|ERR_TLS_|ERR_SSL_)|^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH)$/;

/** The first errno/undici code found on an error, its cause, or the first error of an AggregateError. */
function errorCode(error: unknown, depth = 0): string | undefined {
  if (!error || typeof error !== 'object' || depth > 4) return undefined;
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string') return e.code;
  if (Array.isArray(e.errors) && e.errors.length) return errorCode(e.errors[0], depth + 1);
  return errorCode(e.cause, depth + 1);
}

const NOT_TLS_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST']);

/** Whether a TLS handshake was answered in plain text: the server speaks HTTP, not HTTPS. */
export function isPlainHttpServer(error: unknown): boolean {
  const code = errorCode(error instanceof RootforgeError ? error.cause : error);
  return code !== undefined && NOT_TLS_CODES.has(code);
}

/** Turns a transport failure into a RootforgeError; only network blips and timeouts are temporary. */
export function toNetworkError(error: unknown, where: string, signal?: AbortSignal): RootforgeError {
  if (error instanceof RootforgeError) return error;
  if (signal?.aborted) {
    // A Watchdog aborts with its own ERR_TIMEOUT as the reason; anything else is the caller's abort.
    const reason: unknown = signal.reason;
    return reason instanceof RootforgeError ? reason : new RootforgeError('ERR_ABORTED', 'interrupted', { cause: reason ?? error });
  }
  // undici reports a refused CONNECT as an abort; it is the proxy's answer, not the caller's.
  const refused = proxyRefusal(error, where);
  if (refused) return refused;
  if (isAbortError(error)) return new RootforgeError('ERR_ABORTED', 'interrupted', { cause: error });
  const code = errorCode(error);
  const detail = error instanceof Error && error.message ? error.message : (code ?? String(error));
  if (code && TIMEOUT_CODES.has(code)) {
    return new RootforgeError('ERR_TIMEOUT', `${where}: no answer in time (${detail})`, { cause: error, temporary: true });
  }
  if (code && TLS_CODE.test(code)) {
    return new RootforgeError('ERR_NETWORK', `${where}: TLS failure (${detail})`, {
      cause: error,
      hint: 'The registry certificate is not trusted; pass its CA with --ca-file FILE or SSL_CERT_FILE (or NODE_EXTRA_CA_CERTS), or fix the certificate.',
    });
  }
  if (code === 'UND_ERR_ABORTED') return new RootforgeError('ERR_ABORTED', 'interrupted', { cause: error });
  const temporary = !(code && PERMANENT_NETWORK_CODES.has(code));
  return new RootforgeError('ERR_NETWORK', `${where}: ${detail}`, { cause: error, temporary });
}

function noop(): void {}

/** Drops a response body; undici reports destroying an unread body as an error, which nobody needs here. */
export function discardBody(body: Readable): void {
  body.on('error', noop);
  if (!body.destroyed) body.destroy();
}

/** Reads a body into memory, failing with `tooLarge()` as soon as it passes `maxBytes`. */
export async function readBodyCapped(body: Readable, maxBytes: number, tooLarge: () => RootforgeError, onChunk?: () => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  body.on('error', noop);
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      total += buf.byteLength;
      if (total > maxBytes) throw tooLarge();
      chunks.push(buf);
      onChunk?.();
    }
  } finally {
    discardBody(body);
  }
  return Buffer.concat(chunks, total);
}

/** Reads at most `maxBytes` of a body for an error message, then drops the rest. */
export async function readBodyPrefix(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  body.on('error', noop);
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      chunks.push(buf);
      total += buf.byteLength;
      if (total >= maxBytes) break;
    }
  } catch {
    // The error body is best effort; the status code already says what went wrong.
  } finally {
    discardBody(body);
  }
  return Buffer.concat(chunks, total).subarray(0, maxBytes);
}

function clean(text: string, max = 200): string {
  const flat = redactSecrets(text.replace(/[\u0000-\u001f\u007f]+/g, ' ')).trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** `CODE: message` pairs from a registry's JSON error body, per the distribution spec. */
export function registryErrorDetail(body: Uint8Array): string | undefined {
  if (body.byteLength === 0) return undefined;
  try {
    const json = JSON.parse(Buffer.from(body).toString('utf8')) as { errors?: unknown; message?: unknown; details?: unknown };
    if (Array.isArray(json.errors)) {
      const parts = json.errors
        .slice(0, 3)
        .map((e: { code?: unknown; message?: unknown }) => [e.code, e.message].filter((x) => typeof x === 'string' && x).join(': '))
        .filter(Boolean);
      if (parts.length) return clean(parts.join('; '));
    }
    if (typeof json.message === 'string') return clean(json.message);
    if (typeof json.details === 'string') return clean(json.details);
  } catch {
    // not JSON: fall through to nothing rather than echo arbitrary HTML
  }
  return undefined;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export interface StatusErrorOptions {
  /** Code for 404; blobs and repositories use ERR_NOT_FOUND, manifests ERR_MANIFEST_UNKNOWN. */
  notFound?: ErrorCode;
  maxRetryAfterMs?: number;
  /** The answer came from a redirect target (a CDN): a 401/403 there is an expired signed URL that a fresh redirect fixes. */
  redirected?: boolean;
}

/** Maps an HTTP error status to a RootforgeError; 408, 429 and most 5xx are temporary. */
export function statusError(status: number, headers: IncomingHttpHeaders, body: Uint8Array, where: string, opts: StatusErrorOptions = {}): RootforgeError {
  const detail = registryErrorDetail(body);
  const message = `${where}: HTTP ${status}${detail ? ` (${detail})` : ''}`;
  const retryAfterMs = parseRetryAfter(headerValue(headers, 'retry-after'), Date.now(), opts.maxRetryAfterMs);
  switch (status) {
    case 401:
      return new RootforgeError('ERR_UNAUTHORIZED', message, { temporary: opts.redirected === true });
    case 403:
      return new RootforgeError('ERR_DENIED', message, { temporary: opts.redirected === true });
    case 404:
      return new RootforgeError(opts.notFound ?? 'ERR_NOT_FOUND', message);
    case 408:
      return new RootforgeError('ERR_TIMEOUT', message, { temporary: true });
    case 429:
      return new RootforgeError('ERR_TOO_MANY_REQUESTS', message, { temporary: true, retryAfterMs });
    default:
      if (status >= 500 && status !== 501 && status !== 505) {
        return new RootforgeError('ERR_REGISTRY', message, { temporary: true, retryAfterMs });
      }
      return new RootforgeError('ERR_REGISTRY', message);
  }
}

/** Aborts an attempt after timeoutMs without progress: undici's own timers tick once a second, too coarse for short timeouts. */
export class Watchdog {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;
  /** The caller's signal combined with the watchdog's; its reason is ERR_TIMEOUT when the watchdog fired. */
  readonly signal: AbortSignal;

  constructor(timeoutMs: number, where: string, signal?: AbortSignal) {
    this.signal = signal ? AbortSignal.any([signal, this.controller.signal]) : this.controller.signal;
    this.timer = setTimeout(() => {
      this.controller.abort(new RootforgeError('ERR_TIMEOUT', `${where}: nothing received for ${timeoutMs} ms`, { temporary: true }));
    }, timeoutMs);
    this.timer.unref();
  }

  kick(): void {
    if (!this.stopped) this.timer.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

/** Loopback hosts may be spoken to over plain HTTP: traffic never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return host === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(host) || /^::ffff:(127\.|7f[0-9a-f]{2}:)/.test(host);
  return false;
}

/** host + path of a URL without its query, which may hold signed credentials (S3, CDN redirects). */
export function describeUrl(url: URL): string {
  return `${url.host}${url.pathname}`;
}
