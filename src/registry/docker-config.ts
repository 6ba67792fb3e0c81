import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RootforgeError } from '../errors.js';
import { credentialsFromHelper } from './credential-helper.js';

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
  /** How long a credential helper may take to answer (default 30 s). */
  helperTimeoutMs?: number;
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

const DOCKER_HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];
const DOCKER_HUB_SERVER_URL = 'https://index.docker.io/v1/';
const DEFAULT_HELPER_TIMEOUT_MS = 30_000;

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

/** The value under `registry`'s key in a config.json map (auths, credHelpers); exact keys win over equivalent spellings. */
function findByHost<T>(map: unknown, registry: string, accept: (value: unknown) => T | undefined): T | undefined {
  if (!map || typeof map !== 'object' || Array.isArray(map)) return undefined;
  const entries = Object.entries(map as Record<string, unknown>);
  const aliases = hostAliases(registry);
  const preferred = aliases.includes('docker.io') ? [DOCKER_HUB_SERVER_URL, ...aliases] : [registry];
  for (const key of preferred) {
    const hit = entries.find(([k]) => k === key);
    const value = hit && accept(hit[1]);
    if (value !== undefined) return value;
  }
  for (const [key, raw] of entries) {
    if (!aliases.includes(keyHost(key))) continue;
    const value = accept(raw);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** Finds the credentials for `registry` in the `auths` of a parsed config.json. */
export function findCredentials(config: unknown, registry: string): RegistryCredentials | undefined {
  const auths = (config as { auths?: unknown } | null | undefined)?.auths;
  return findByHost(auths, registry, (entry) => (typeof entry === 'object' && entry !== null ? decodeEntry(entry as AuthEntry) : undefined));
}

/** Where Docker takes a registry's login from: a credential helper, or the `auths` entry (maybe none). */
export type CredentialSource = { helper: string } | { credentials: RegistryCredentials | undefined };

/** Docker's precedence: `credHelpers[registry]`, then the default `credsStore`, then `auths`. */
export function credentialSource(config: unknown, registry: string): CredentialSource {
  const { credHelpers, credsStore } = (config ?? {}) as { credHelpers?: unknown; credsStore?: unknown };
  const helper = findByHost(credHelpers, registry, (name) => (typeof name === 'string' && name !== '' ? name : undefined));
  if (helper !== undefined) return { helper };
  if (typeof credsStore === 'string' && credsStore !== '') return { helper: credsStore };
  return { credentials: findCredentials(config, registry) };
}

/** The server URL a credential helper is asked about: Docker keeps Docker Hub under its legacy index URL. */
export function helperServerUrl(registry: string): string {
  return hostAliases(registry).includes('docker.io') ? DOCKER_HUB_SERVER_URL : registry;
}

/** Reads credentials for `registry` from the Docker config or the helper it names; a missing file means anonymous access. */
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
  const source = credentialSource(config, registry);
  if (!('helper' in source)) return source.credentials;
  return credentialsFromHelper(source.helper, helperServerUrl(registry), {
    env: location.env ?? process.env,
    timeoutMs: location.helperTimeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS,
  });
}
