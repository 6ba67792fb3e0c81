import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RootforgeError } from '../errors.js';

/** Credentials for one registry, as `docker login` stores them. Never log these. */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token, traded at the token endpoint (`docker login` with an identity provider). */
  identityToken?: string;
}

export interface DockerConfigLocation {
  env?: NodeJS.ProcessEnv;
  homedir?: string;
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

const DOCKER_HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

/** `$DOCKER_CONFIG/config.json`, else `<home>/.docker/config.json`; undefined when neither is known. */
export function dockerConfigPath({ env = process.env, homedir }: DockerConfigLocation): string | undefined {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  const home = homedir ?? env.HOME;
  return home ? join(home, '.docker', 'config.json') : undefined;
}

/** Reduces a config key (`https://host/v1/`, `http://host`, `host`) to the host, as Docker's ConvertToHostname does. */
function keyHost(key: string): string {
  let host = key.trim().toLowerCase();
  host = host.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  const slash = host.indexOf('/');
  return slash === -1 ? host : host.slice(0, slash);
}

function hostAliases(registry: string): string[] {
  const host = registry.toLowerCase();
  return DOCKER_HUB_ALIASES.includes(host) ? DOCKER_HUB_ALIASES : [host];
}

function decodeEntry(entry: AuthEntry): RegistryCredentials | undefined {
  const creds: RegistryCredentials = {};
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // A malformed auth field is skipped rather than echoed: it holds a secret.
    if (colon > 0) {
      creds.username = decoded.slice(0, colon);
      creds.password = decoded.slice(colon + 1);
    }
  }
  if (creds.username === undefined && typeof entry.username === 'string' && entry.username !== '') {
    creds.username = entry.username;
    if (typeof entry.password === 'string') creds.password = entry.password;
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') creds.identityToken = entry.identitytoken;
  return creds.username !== undefined || creds.identityToken !== undefined ? creds : undefined;
}

/** Finds the credentials for `registry` in a parsed config.json; exact keys win over equivalent spellings. */
export function findCredentials(config: unknown, registry: string): RegistryCredentials | undefined {
  const auths = (config as { auths?: unknown } | null | undefined)?.auths;
  if (!auths || typeof auths !== 'object' || Array.isArray(auths)) return undefined;
  const entries = Object.entries(auths as Record<string, unknown>).filter(
    (e): e is [string, AuthEntry] => typeof e[1] === 'object' && e[1] !== null,
  );
  const aliases = hostAliases(registry);
  const preferred = aliases.includes('docker.io') ? ['https://index.docker.io/v1/', ...aliases] : [registry];
  for (const key of preferred) {
    const hit = entries.find(([k]) => k === key);
    const creds = hit && decodeEntry(hit[1]);
    if (creds) return creds;
  }
  for (const [key, entry] of entries) {
    if (!aliases.includes(keyHost(key))) continue;
    const creds = decodeEntry(entry);
    if (creds) return creds;
  }
  return undefined;
}

/** Reads credentials for `registry` from the Docker config; a missing file means anonymous access. */
export async function loadCredentials(registry: string, location: DockerConfigLocation = {}): Promise<RegistryCredentials | undefined> {
  const path = dockerConfigPath(location);
  if (!path) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new RootforgeError('ERR_UNAUTHORIZED', `cannot read the Docker config ${path}: ${code ?? 'unknown error'}`, {
      hint: 'Make the Docker config readable, or point $DOCKER_CONFIG at another directory.',
    });
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    // The parser's message may quote the file's content, which holds secrets.
    throw new RootforgeError('ERR_UNAUTHORIZED', `the Docker config ${path} is not valid JSON`, {
      hint: 'Fix the file (or run `docker login` again), or point $DOCKER_CONFIG at another directory.',
    });
  }
  return findCredentials(config, registry);
}
