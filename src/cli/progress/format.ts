/** Pure text helpers for progress lines and the final table. */

export function humanBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function humanSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}

/** Cuts a line to the terminal width, counting code points (status colours are added after). */
export function fit(line: string, columns: number): string {
  const chars = [...line];
  return chars.length <= columns ? line : `${chars.slice(0, Math.max(0, columns - 1)).join('')}…`;
}

export interface ImageLine {
  image: string;
  stage: string;
  bytes?: number;
  totalBytes?: number;
  /** Bytes per second over the download so far. */
  rate?: number;
  elapsedSeconds: number;
}

export function imageLine(line: ImageLine): string {
  const download =
    line.totalBytes !== undefined && line.bytes !== undefined
      ? ` ${humanBytes(line.bytes)}/${humanBytes(line.totalBytes)}${line.rate ? ` ${humanBytes(line.rate)}/s` : ''}`
      : '';
  return `${line.image}  ${line.stage}${download}  ${humanSeconds(line.elapsedSeconds)}`;
}

export interface Totals {
  done: number;
  failed: number;
  skipped: number;
  total: number;
  elapsedSeconds: number;
}

export function totalsLine(t: Totals): string {
  return `${t.done + t.failed + t.skipped}/${t.total} images: ${t.done} ok, ${t.skipped} skipped, ${t.failed} failed  ${humanSeconds(t.elapsedSeconds)}`;
}

/** Left-aligned columns separated by two spaces. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - [...cell].length))).join('  ').trimEnd());
}
