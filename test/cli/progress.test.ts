import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/batch/events.js';
import { fit, humanBytes, humanSeconds, imageLine, table, totalsLine } from '../../src/cli/progress/format.js';
import { pickMode, Renderer, type ProgressMode } from '../../src/cli/progress/renderer.js';
import { buildLayer, pushImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

function harness(mode: ProgressMode, color = false) {
  let clock = 0;
  const err: string[] = [];
  const out: string[] = [];
  const renderer = new Renderer({ stream: { write: (t: string) => err.push(t) }, stdout: { write: (t: string) => out.push(t) }, mode, color, columns: 60, now: () => clock });
  return { renderer, err, out, tick: (ms: number) => (clock += ms), at: () => clock };
}

const run = (h: ReturnType<typeof harness>, events: RunEvent[]): void => events.forEach((e) => h.renderer.onEvent(e));

describe('progress formatting', () => {
  it('humanises bytes, rates and durations, and fits lines to the width', () => {
    expect(humanBytes(999)).toBe('999 B');
    expect(humanBytes(1_500_000)).toBe('1.5 MB');
    expect(humanSeconds(4.25)).toBe('4.3s');
    expect(humanSeconds(125)).toBe('2m05s');
    expect(fit('x'.repeat(100), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(imageLine({ image: 'debian', stage: 'download', bytes: 5e6, totalBytes: 5e7, rate: 2.5e6, elapsedSeconds: 2 })).toBe('debian  download 5.0 MB/50.0 MB 2.5 MB/s  2.0s');
    expect(totalsLine({ done: 2, failed: 1, skipped: 0, total: 8, elapsedSeconds: 3 })).toBe('3/8 images: 2 ok, 0 skipped, 1 failed  3.0s');
    expect(table([['A', 'BB'], ['ccc', 'd']])).toEqual(['A    BB', 'ccc  d']);
  });

  it('picks the mode from the terminal and flags', () => {
    expect(pickMode({ isTTY: true, quiet: false, json: false, events: false })).toBe('tty');
    expect(pickMode({ isTTY: false, quiet: false, json: false, events: false })).toBe('plain');
    expect(pickMode({ isTTY: true, quiet: false, json: true, events: false })).toBe('quiet');
    expect(pickMode({ isTTY: true, quiet: true, json: false, events: true })).toBe('events');
  });
});

describe('renderer', () => {
  const progress = (bytes: number): RunEvent => ({ type: 'progress', image: 'a', stage: 'download', bytes, totalBytes: 1000, at: 0 });

  it('plain: stage changes always, download progress at most once a second per image', () => {
    const h = harness('plain');
    run(h, [{ type: 'run-start', images: 1, at: 0 }, { type: 'image-start', image: 'a', at: 0 }, { type: 'stage', image: 'a', stage: 'download', at: 0 }]);
    for (let i = 1; i <= 30; i++) {
      h.tick(100);
      h.renderer.onEvent(progress(i * 30));
    }
    run(h, [{ type: 'stage', image: 'a', stage: 'mkfs', at: 0 }, { type: 'image-done', image: 'a', status: 'ok', at: 0 }]);
    const progressLines = h.err.filter((l) => l.startsWith('a  download '));
    expect(progressLines.length).toBeGreaterThanOrEqual(2);
    expect(progressLines.length).toBeLessThanOrEqual(4);
    expect(h.err).toContain('a: mkfs\n');
    expect(h.err).toContain('a: ok\n');
    expect(h.err.join('')).not.toContain('\x1b[');
  });

  it('tty: redraws in place with cursor moves, keeps warnings, ends with a table', () => {
    const h = harness('tty', true);
    run(h, [{ type: 'run-start', images: 2, at: 0 }, { type: 'image-start', image: 'a', at: 0 }, { type: 'stage', image: 'a', stage: 'download', at: 0 }]);
    h.tick(500);
    h.renderer.onEvent(progress(500));
    run(h, [{ type: 'warning', image: 'a', message: 'no --agent', at: 0 }, { type: 'image-done', image: 'a', status: 'ok', at: 0 }]);
    h.renderer.finish([{ ref: 'a', status: 'ok', output: '/out/a.ext4', seconds: { mkfs: 1 } }, { ref: 'b', status: 'failed', error: { code: 'ERR_UNSAFE_PATH', message: 'nope', hint: '' } }]);
    const all = h.err.join('');
    expect(all).toContain('\x1b[');
    expect(all).toContain('a: warning: no --agent');
    expect(all).toContain('1/2 images');
    expect(all).toMatch(/IMAGE\s+STATUS\s+OUTPUT \/ ERROR\s+TIME/);
    expect(all).toContain('ERR_UNSAFE_PATH: nope');
    expect(all).toContain('\x1b[32m'); // green "ok"
  });

  it('events: NDJSON on stdout only', () => {
    const h = harness('events');
    run(h, [{ type: 'run-start', images: 1, at: 5 }, progress(10)]);
    h.renderer.finish([]);
    expect(h.err).toEqual([]);
    expect(h.out.map((l) => JSON.parse(l).type)).toEqual(['run-start', 'progress']);
  });
});

describe('rootforge warm --events', () => {
  let reg: TestRegistry;
  let dir: string;
  beforeAll(async () => {
    reg = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'rootforge-events-'));
    await pushImage(reg, 'events/img', 'v1', { layers: [await buildLayer([{ name: 'blob', content: randomBytes(2_000_000) }])] });
  });
  afterAll(async () => {
    await reg?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('streams events as JSON lines and ends with the summary', async () => {
    const result = await execa('node', [join(import.meta.dirname, '../../dist/src/cli/launch.js'), 'warm', `${reg.host}/events/img:v1`, '--cache-dir', join(dir, 'cache'), '--events'], { env: { NO_COLOR: '1' } });
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; bytes?: number; totalBytes?: number });
    expect(lines[0]?.type).toBe('run-start');
    expect(lines.at(-1)?.type).toBe('summary');
    const progress = lines.filter((l) => l.type === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ bytes: progress.at(-1)?.totalBytes });
    expect(lines.map((l) => l.type)).toEqual(expect.arrayContaining(['image-start', 'stage', 'layer', 'image-done', 'run-done']));
    const both = await execa('node', [join(import.meta.dirname, '../../dist/src/cli/launch.js'), 'warm', `${reg.host}/events/img:v1`, '--events', '--json'], { reject: false });
    expect(both.exitCode).toBe(2);
  });
});
