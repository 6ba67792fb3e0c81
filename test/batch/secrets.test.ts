/**
 * Secrets never leak: passwords, Basic credentials and bearer tokens appear in no log line, error,
 * `--json` or `--events` output, and no file rootforge writes (cache, outputs, work dir), even when
 * the registry echoes the Authorization header back in an error.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, pushImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { CLI_MAIN } from '../helpers/cli.js';

const USER = 'alice';
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const WRONG_PASSWORD = `wrong-${randomBytes(12).toString('hex')}`;

let reg: TestRegistry;
let proxy: FaultProxy;
let dir: string;

beforeAll(async () => {
  reg = await startRegistry({ auth: 'token', username: USER, password: PASSWORD });
  dir = await mkdtemp(join(tmpdir(), 'rootforge-secrets-'));
  const layer = await buildLayer([{ name: 'usr/lib/systemd/systemd', content: 'x', mode: 0o755 }, { name: 'etc/app', content: 'app' }]);
  await pushImage(reg, 'secret/app', 'v1', { layers: [layer] });
  await pushImage(reg, 'secret/echo', 'v1', { layers: [await buildLayer([{ name: 'echo', content: 'e' }])] });
  // A registry that quotes the caller's Authorization header in its error message.
  proxy = await startFaultProxy(reg.url, (req) =>
    req.path.includes('/secret/echo/blobs/')
      ? { kind: 'status', status: 403, body: JSON.stringify({ errors: [{ code: 'DENIED', message: `denied for ${String(req.headers.authorization)}` }] }) }
      : undefined,
  );
});
afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function dockerConfig(password: string): Promise<string> {
  const home = await mkdtemp(join(dir, 'docker-'));
  await writeFile(join(home, 'config.json'), JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from(`${USER}:${password}`).toString('base64') } } }));
  return home;
}

async function filesUnder(root: string): Promise<string[]> {
  const info = await stat(root).catch(() => undefined);
  if (!info) return [];
  if (!info.isDirectory()) return [root];
  const nested = await Promise.all((await readdir(root)).map((name) => filesUnder(join(root, name))));
  return nested.flat();
}

describe('secrets', () => {
  it('appear in no output, error or file', async () => {
    const cache = join(dir, 'cache');
    const out = join(dir, 'out');
    const work = join(dir, 'work');
    await mkdir(work);
    const good = await dockerConfig(PASSWORD);
    const bad = await dockerConfig(WRONG_PASSWORD);
    const app = `${proxy.host}/secret/app:v1`;
    const echo = `${proxy.host}/secret/echo:v1`;
    const runs: Array<[string[], string]> = [
      [['warm', app, echo, '--cache-dir', cache, '--json', '--retries', '0'], good],
      [['build', app, echo, '--cache-dir', cache, '--out', out, '--work-dir', work, '--events', '--retries', '0', '--force'], good],
      [['build', app, echo, '--cache-dir', cache, '--out', out, '--work-dir', work, '--retries', '0', '--force'], good],
      [['warm', `${proxy.host}/secret/app:v2`, '--cache-dir', join(dir, 'cache2'), '--json', '--retries', '0'], bad],
      [['warm', app, '--cache-dir', join(dir, 'cache3'), '--retries', '0'], bad],
      [['cache', 'ls', '--cache-dir', cache, '--json'], good],
    ];
    const texts: string[] = [];
    const outcomes: Array<number | undefined> = [];
    for (const [args, config] of runs) {
      const run = await execa('node', [CLI_MAIN, ...args], { reject: false, env: { DOCKER_CONFIG: config, NO_COLOR: '1' } });
      outcomes.push(run.exitCode);
      texts.push(`$ rootforge ${args.join(' ')}\n${run.stdout}\n${run.stderr}`);
    }
    // The runs did what they should: app built, echo refused, wrong password refused.
    expect(outcomes).toEqual([1, 1, 1, 1, 1, 0]);
    expect(texts[0]).toContain('ERR_DENIED');
    expect(texts[0], "the registry's own message is kept, minus the token").toContain('denied for Bearer [redacted]');
    expect(texts[3]).toMatch(/ERR_UNAUTHORIZED|ERR_DENIED/);
    expect(await readdir(out)).toContain('app-v1.ext4');

    const headers = proxy.seen.map((r) => r.headers.authorization).filter((h): h is string => typeof h === 'string');
    expect(headers.some((h) => h.startsWith('Bearer ')), 'tokens were used, so the check below means something').toBe(true);
    const secrets = new Set<string>([
      PASSWORD,
      WRONG_PASSWORD,
      Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
      Buffer.from(`${USER}:${WRONG_PASSWORD}`).toString('base64'),
      ...headers.map((h) => h.replace(/^(Bearer|Basic) /, '')),
    ]);

    // Any 16 characters of a secret count: a message cut short must not carry a token's first half either.
    const pieces = [...secrets].flatMap((secret) => Array.from({ length: Math.max(1, Math.ceil((secret.length - 16) / 8) + 1) }, (_, i) => secret.slice(i * 8, i * 8 + 16)));
    const output = texts.join('\n');
    for (const piece of pieces) expect(output.includes(piece), `a secret in the output:\n${output}`).toBe(false);
    const files = [...(await filesUnder(cache)), ...(await filesUnder(out)), ...(await filesUnder(work)), ...(await filesUnder(join(dir, 'cache2'))), ...(await filesUnder(join(dir, 'cache3')))];
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const bytes = await readFile(file);
      for (const piece of pieces) expect(bytes.includes(piece), `${file} holds a secret`).toBe(false);
    }
  });
});
