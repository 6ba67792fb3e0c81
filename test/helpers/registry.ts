/** Runs the real Distribution registry on 127.0.0.1, with htpasswd or token auth, so tests meet real protocol quirks. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { Agent, request, type Dispatcher } from 'undici';

export interface RegistryRequest {
  method: string;
  /** The request target as logged, query string included. */
  path: string;
  status: number;
}

export interface TokenServerRequest {
  method: string;
  scope: string[];
  service?: string;
  /** Account the token was issued to; undefined for anonymous tokens. */
  account?: string;
  /** HTTP status the token server answered with. */
  status: number;
}

export interface TestRegistry {
  host: string /* '127.0.0.1:PORT' */;
  url: string;
  /** Requests the registry logged (its access log), oldest first; health probes of this harness are left out. */
  requests(): { method: string; path: string; status: number }[];
  stop(): Promise<void>;
  /** Which auth the registry was started with. */
  auth: 'none' | 'basic' | 'token';
  /** The login that works against this registry (basic and token modes). */
  credentials?: { username: string; password: string };
  /** Requests the token server answered (token mode; always empty otherwise). */
  tokenRequests(): TokenServerRequest[];
  /** Log lines lag behind responses; this waits for a marker request's line, so everything answered before is listed. */
  settle(): Promise<RegistryRequest[]>;
  /** Waits until the access log has at least `count` entries. */
  waitForRequests(count: number, timeoutMs?: number): Promise<RegistryRequest[]>;
  /** For a TLS registry: a dispatcher that trusts its CA, for pushes and probes. */
  dispatcher?: Dispatcher;
}

export interface StartRegistryOptions {
  auth?: 'none' | 'basic' | 'token';
  /** Run as a pull-through cache of this upstream registry URL (Distribution's proxy.remoteurl). */
  proxyRemoteUrl?: string;
  username?: string;
  password?: string;
  /** Serve HTTPS with this certificate and key (PEM files); `ca` is the PEM file the harness trusts for its own requests. */
  tls?: { certificate: string; key: string; ca: string };
}

const REGISTRY_BIN = process.env.ROOTFORGE_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';
const PROBE_AGENT = 'rootforge-test-probe';
const TOKEN_SERVICE = 'rootforge-test-registry';
const TOKEN_ISSUER = 'rootforge-test-issuer';
const running = new Set<ChildProcess>();

// A registry left behind by a crashed test would keep its port and temp dir; kill it on exit.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** bcrypt for htpasswd via libxcrypt's crypt() in perl or python3, so no npm dependency is needed. */
export async function bcryptHash(password: string): Promise<string> {
  const bytes = randomBytes(22);
  let salt = '';
  for (let i = 0; i < 21; i++) salt += BCRYPT_ALPHABET[(bytes[i] as number) % 64];
  // The last salt character carries only 2 significant bits; these four are canonical.
  salt += '.Oeu'[(bytes[21] as number) % 4];
  const setting = `$2b$05$${salt}`;
  const env = { RF_PASSWORD: password, RF_SETTING: setting };
  const attempts: [string, string[]][] = [
    ['perl', ['-e', 'print crypt($ENV{RF_PASSWORD}, $ENV{RF_SETTING})']],
    ['python3', ['-c', 'import crypt, os, sys; sys.stdout.write(crypt.crypt(os.environ["RF_PASSWORD"], os.environ["RF_SETTING"]) or "")']],
  ];
  for (const [cmd, args] of attempts) {
    const result = await execa(cmd, args, { env, reject: false, stripFinalNewline: true });
    if (result.exitCode === 0 && typeof result.stdout === 'string' && result.stdout.startsWith('$2b$05$') && result.stdout.length === 60) return result.stdout;
  }
  throw new Error('cannot make a bcrypt hash: neither perl nor python3 crypt() supports $2b$ here');
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

interface TokenServer {
  server: Server;
  realm: string;
  requests: TokenServerRequest[];
}

/** Issues ES256 JWTs the registry trusts through the x5c header and its rootcertbundle. */
async function startTokenServer(dir: string, username: string, password: string): Promise<TokenServer> {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  await execa('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '3650', '-subj', '/CN=rootforge-test-token',
  ]);
  const key = await readFile(keyPath, 'utf8');
  const certDer = new X509Certificate(await readFile(certPath)).raw.toString('base64');
  const requests: TokenServerRequest[] = [];

  const issue = (account: string | undefined, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = account === undefined ? [] : scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
    });
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer] }));
    const claims = base64url(JSON.stringify({
      iss: TOKEN_ISSUER, sub: account ?? '', aud: TOKEN_SERVICE, exp: now + 300, nbf: now - 10, iat: now,
      jti: randomBytes(8).toString('hex'), access,
    }));
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    return `${header}.${claims}.${base64url(signature)}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(req.method === 'POST' ? Buffer.concat(chunks).toString('utf8') : '');
    const scopes = req.method === 'POST' ? (form.get('scope') ?? '').split(' ').filter(Boolean) : url.searchParams.getAll('scope');
    const service = (req.method === 'POST' ? form.get('service') : url.searchParams.get('service')) ?? undefined;
    const record = (status: number, account?: string): void => {
      requests.push({ method: req.method ?? 'GET', scope: scopes, ...(service !== undefined ? { service } : {}), ...(account !== undefined ? { account } : {}), status });
    };
    const deny = (): void => {
      record(401);
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
    };
    if (url.pathname !== '/token') {
      record(404);
      res.writeHead(404).end();
      return;
    }
    let account: string | undefined;
    if (req.method === 'POST') {
      const grant = form.get('grant_type');
      // The identity token of this server is the password itself.
      if (grant === 'refresh_token' && form.get('refresh_token') === password) account = username;
      else if (grant === 'password' && form.get('username') === username && form.get('password') === password) account = username;
      else return deny();
    } else if (req.headers.authorization) {
      const m = /^Basic (.+)$/i.exec(req.headers.authorization);
      const decoded = m ? Buffer.from(m[1] as string, 'base64').toString('utf8') : '';
      if (decoded !== `${username}:${password}`) return deny();
      account = username;
    }
    const token = issue(account, scopes);
    record(200, account);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, realm: `http://127.0.0.1:${port}/token`, requests };
}

// Gorilla's combined log format, which Distribution writes to stdout for every request.
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) \S+ "(?:[^"\\]|\\.)*" "((?:[^"\\]|\\.)*)"/;

function configYaml(dir: string, port: number, auth: string, tls: StartRegistryOptions['tls']): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: json',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...(tls ? ['  tls:', `    certificate: ${tls.certificate}`, `    key: ${tls.key}`] : []),
    auth,
  ].join('\n');
}

interface Launched {
  child: ChildProcess;
  lines: RegistryRequest[];
  /** Marker ids of settle() requests seen in the log, and who waits for them. */
  markers: Map<string, () => void>;
  stderr: () => string;
}

const MARKER = /[?&]rootforge-settle=([a-f0-9]+)/;

async function launch(dir: string, port: number, auth: string, tls: StartRegistryOptions['tls']): Promise<Launched> {
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, configYaml(dir, port, auth, tls));
  const child = spawn(REGISTRY_BIN, ['serve', configPath], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const lines: RegistryRequest[] = [];
  const markers = new Map<string, () => void>();
  let pending = '';
  child.stdout?.setEncoding('utf8').on('data', (data: string) => {
    pending += data;
    let nl: number;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const m = ACCESS_LINE.exec(line);
      if (!m) continue;
      if (m[4] !== PROBE_AGENT) {
        lines.push({ method: m[1] as string, path: m[2] as string, status: Number(m[3]) });
        continue;
      }
      const marker = MARKER.exec(m[2] as string)?.[1];
      if (marker) markers.get(marker)?.();
    }
  });
  let errText = '';
  child.stderr?.setEncoding('utf8').on('data', (data: string) => {
    errText = (errText + data).slice(-32_000);
  });
  return { child, lines, markers, stderr: () => errText };
}

async function waitReady(launched: Launched, url: string, timeoutMs: number, dispatcher: Dispatcher | undefined): Promise<'ready' | 'exited'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (launched.child.exitCode !== null || launched.child.signalCode !== null) return 'exited';
    try {
      const res = await request(`${url}/v2/`, { headers: { 'user-agent': PROBE_AGENT }, headersTimeout: 1000, bodyTimeout: 1000, dispatcher });
      await res.body.dump();
      if (res.statusCode === 200 || res.statusCode === 401) return 'ready';
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  return 'exited';
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const mode = opts.auth ?? 'none';
  const username = opts.username ?? 'rootforge';
  const password = opts.password ?? 'correct-horse-battery';
  const dir = await mkdtemp(join(tmpdir(), 'rootforge-registry-'));
  let tokenServer: TokenServer | undefined;
  try {
    let authYaml = opts.proxyRemoteUrl ? ['proxy:', `  remoteurl: ${opts.proxyRemoteUrl}`].join('\n') : '';
    if (mode === 'basic') {
      const htpasswd = join(dir, 'htpasswd');
      await writeFile(htpasswd, `${username}:${await bcryptHash(password)}\n`);
      authYaml = ['auth:', '  htpasswd:', '    realm: rootforge-test', `    path: ${htpasswd}`].join('\n');
    } else if (mode === 'token') {
      tokenServer = await startTokenServer(dir, username, password);
      authYaml = [
        'auth:',
        '  token:',
        `    realm: ${tokenServer.realm}`,
        `    service: ${TOKEN_SERVICE}`,
        `    issuer: ${TOKEN_ISSUER}`,
        `    rootcertbundle: ${join(dir, 'token.crt')}`,
      ].join('\n');
    }

    const dispatcher = opts.tls ? new Agent({ connect: { ca: await readFile(opts.tls.ca, 'utf8') } }) : undefined;
    // The port is picked before the registry binds it; another process may win the race, so retry.
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
      const launched = await launch(dir, port, authYaml, opts.tls);
      const state = await waitReady(launched, url, 15_000, dispatcher);
      if (state === 'ready') {
        const { child, lines, markers } = launched;
        const tokens = tokenServer;
        let stopped = false;
        return {
          host: `127.0.0.1:${port}`,
          url,
          auth: mode,
          ...(mode !== 'none' ? { credentials: { username, password } } : {}),
          ...(dispatcher ? { dispatcher } : {}),
          requests: () => lines.slice(),
          tokenRequests: () => (tokens ? tokens.requests.slice() : []),
          async settle(): Promise<RegistryRequest[]> {
            const id = randomBytes(6).toString('hex');
            const seen = new Promise<void>((resolve) => markers.set(id, resolve));
            const res = await request(`${url}/v2/?rootforge-settle=${id}`, { headers: { 'user-agent': PROBE_AGENT }, dispatcher });
            await res.body.dump();
            await Promise.race([seen, sleep(5000).then(() => Promise.reject(new Error('registry access log did not show the settle marker')))]);
            markers.delete(id);
            return lines.slice();
          },
          async waitForRequests(count: number, timeoutMs = 2000): Promise<RegistryRequest[]> {
            const deadline = Date.now() + timeoutMs;
            while (lines.length < count && Date.now() < deadline) await sleep(5);
            return lines.slice();
          },
          async stop(): Promise<void> {
            if (stopped) return;
            stopped = true;
            await stopChild(child);
            await dispatcher?.close();
            if (tokens) await new Promise<void>((resolve) => { tokens.server.closeAllConnections(); tokens.server.close(() => resolve()); });
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      await stopChild(launched.child);
      const stderr = launched.stderr();
      if (attempt < 4 && /address already in use/i.test(stderr)) continue;
      throw new Error(`docker-registry did not start:\n${stderr.slice(-4000)}`);
    }
  } catch (error) {
    if (tokenServer) tokenServer.server.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
