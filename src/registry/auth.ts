import { createHash } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { isAbortError, RootforgeError } from '../errors.js';
import type { RegistryCredentials } from './docker-config.js';
import { readBodyCapped, statusError, toNetworkError } from './http.js';

/** One challenge from a WWW-Authenticate header; parameter names are lowercased. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** Parses WWW-Authenticate by hand: quoted values hold commas (`scope="repository:a:pull,push"`), so splitting on commas breaks. */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    let out = '';
    i++; // opening quote
    while (i < n && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < n) i++;
      out += header[i];
      i++;
    }
    i++; // closing quote
    return out;
  };

  let current: AuthChallenge | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const token = readToken();
    if (token === '') {
      i++; // stray character: skip it rather than loop forever
      continue;
    }
    skipSpace();
    if (header[i] === '=' && current) {
      i++;
      skipSpace();
      let value: string;
      if (header[i] === '"') {
        value = readQuoted();
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
        value = header.slice(start, i);
      }
      current.params[token.toLowerCase()] = value;
    } else if (header[i] === '=' && !current) {
      // A parameter before any scheme: malformed, ignore it.
      i++;
      skipSpace();
      if (header[i] === '"') readQuoted();
      else readToken();
    } else {
      // A token not followed by '=' starts a new challenge (token68 values are not used by registries).
      current = { scheme: token.toLowerCase(), params: {} };
      challenges.push(current);
    }
  }
  return challenges;
}

export function basicAuthorization(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`, 'utf8').toString('base64')}`;
}

export interface BearerToken {
  token: string;
  /** Epoch milliseconds after which the token is no longer reused. */
  expiresAt: number;
}

export interface TokenRequest {
  realm: string;
  service?: string;
  scopes: string[];
  credentials?: RegistryCredentials;
  userAgent: string;
  timeoutMs: number;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  /** Whether the realm may be fetched over plain HTTP (loopback or insecure hosts only). */
  allowHttp: (url: URL) => boolean;
  /** Name used in messages instead of the realm URL (which may carry query parameters). */
  registry: string;
}

const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_TOKEN_LIFETIME_S = 60;
const CLIENT_ID = 'rootforge';

/** Fetches a token from the realm: GET with optional Basic credentials, or the OAuth2 POST that identity tokens require. */
export async function fetchBearerToken(req: TokenRequest): Promise<BearerToken> {
  let realm: URL;
  try {
    realm = new URL(req.realm);
  } catch {
    throw new RootforgeError('ERR_REGISTRY', `registry ${req.registry} named an invalid token realm`);
  }
  if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && req.allowHttp(realm))) {
    throw new RootforgeError('ERR_INSECURE_REGISTRY', `registry ${req.registry} sends clients to a token service over ${realm.protocol.replace(':', '')} at ${realm.host}`);
  }
  const headers: Record<string, string> = { 'user-agent': req.userAgent, accept: 'application/json' };
  const { credentials } = req;
  let method: 'GET' | 'POST' = 'GET';
  let body: string | undefined;
  if (credentials?.identityToken) {
    method = 'POST';
    headers['content-type'] = 'application/x-www-form-urlencoded; charset=utf-8';
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: CLIENT_ID });
    if (req.service) form.set('service', req.service);
    if (req.scopes.length) form.set('scope', req.scopes.join(' '));
    body = form.toString();
  } else {
    if (req.service) realm.searchParams.set('service', req.service);
    for (const scope of req.scopes) realm.searchParams.append('scope', scope);
    if (credentials?.username !== undefined) {
      headers.authorization = basicAuthorization(credentials);
      realm.searchParams.set('account', credentials.username);
    }
  }

  const where = `the token service of ${req.registry} (${realm.host})`;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(realm, {
      method,
      headers,
      body,
      signal: req.signal,
      dispatcher: req.dispatcher,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    });
  } catch (error) {
    throw toNetworkError(error, where, req.signal);
  }
  let bytes: Buffer;
  try {
    bytes = await readBodyCapped(res.body, MAX_TOKEN_RESPONSE_BYTES, () => new RootforgeError('ERR_REGISTRY', `${where} sent an oversized answer`));
  } catch (error) {
    throw toNetworkError(error, where, req.signal);
  }
  if (res.statusCode === 401 || res.statusCode === 403) {
    throw new RootforgeError(
      res.statusCode === 401 ? 'ERR_UNAUTHORIZED' : 'ERR_DENIED',
      credentials ? `${where} refused the credentials from the Docker config` : `${where} refused anonymous access`,
    );
  }
  if (res.statusCode < 200 || res.statusCode >= 300) throw statusError(res.statusCode, res.headers, bytes, where);

  let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    json = JSON.parse(bytes.toString('utf8')) as typeof json;
  } catch {
    throw new RootforgeError('ERR_REGISTRY', `${where} answered with something other than JSON`);
  }
  const token = typeof json.token === 'string' && json.token ? json.token : typeof json.access_token === 'string' ? json.access_token : '';
  if (!token) throw new RootforgeError('ERR_REGISTRY', `${where} answered without a token`);
  const lifetime = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : DEFAULT_TOKEN_LIFETIME_S;
  // Renew a little early so a token does not expire between the check and the request.
  const usable = Math.max(lifetime * 0.8, lifetime - 30);
  return { token, expiresAt: Date.now() + usable * 1000 };
}

/** Tokens by registry, scope and credential identity; shared per thread so many clients reuse them. */
export class TokenCache {
  private readonly tokens = new Map<string, BearerToken>();

  static key(apiHost: string, scope: string, credentials: RegistryCredentials | undefined): string {
    // A fingerprint keeps the secret itself out of the key while separating different logins.
    const who = credentials ? createHash('sha256').update(JSON.stringify([credentials.username, credentials.password, credentials.identityToken])).digest('hex').slice(0, 16) : 'anonymous';
    return `${apiHost}|${scope}|${who}`;
  }

  get(key: string): string | undefined {
    const hit = this.tokens.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt <= Date.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return hit.token;
  }

  set(key: string, token: BearerToken): void {
    this.tokens.set(key, token);
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }
}

export const sharedTokenCache = new TokenCache();

export interface AuthenticatorOptions {
  loadCredentials: (registry: string) => Promise<RegistryCredentials | undefined>;
  userAgent: string;
  timeoutMs: number;
  dispatcher?: Dispatcher;
  allowHttp: (url: URL) => boolean;
  cache?: TokenCache;
}

/** What a registry asked for last time, so the next request can carry credentials up front. */
type KnownScheme = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string };

/** Answers 401 challenges; tokens are cached and fetched once per scope, so parallel downloads do not stampede the token service. */
export class Authenticator {
  private readonly cache: TokenCache;
  private readonly schemes = new Map<string, KnownScheme>();
  private readonly credentials = new Map<string, Promise<RegistryCredentials | undefined>>();
  private readonly inflight = new Map<string, Promise<BearerToken>>();

  constructor(private readonly opts: AuthenticatorOptions) {
    this.cache = opts.cache ?? sharedTokenCache;
  }

  private creds(registry: string): Promise<RegistryCredentials | undefined> {
    let pending = this.credentials.get(registry);
    if (!pending) {
      pending = this.opts.loadCredentials(registry);
      this.credentials.set(registry, pending);
    }
    return pending;
  }

  /** The Authorization header to send before any challenge, if this registry's scheme is known. */
  async preemptive(target: { registry: string; apiHost: string }, scope: string): Promise<string | undefined> {
    const known = this.schemes.get(target.apiHost);
    if (!known) return undefined;
    const creds = await this.creds(target.registry);
    if (known.scheme === 'basic') return creds?.username !== undefined ? basicAuthorization(creds) : undefined;
    const token = this.cache.get(TokenCache.key(target.apiHost, scope, creds));
    return token ? `Bearer ${token}` : undefined;
  }

  /** The Authorization header to retry with after a 401; `rejected` is dropped from the cache so a stale token is not offered again. */
  async authorize(
    target: { registry: string; apiHost: string; repository: string },
    scope: string,
    wwwAuthenticate: string | string[] | undefined,
    rejected: string | undefined,
    signal?: AbortSignal,
  ): Promise<string> {
    const where = `registry ${target.registry}`;
    const challenges = (Array.isArray(wwwAuthenticate) ? wwwAuthenticate : wwwAuthenticate ? [wwwAuthenticate] : []).flatMap(parseWwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    const creds = await this.creds(target.registry);

    if (bearer) {
      const key = TokenCache.key(target.apiHost, scope, creds);
      const realm = bearer.params.realm as string;
      const service = bearer.params.service;
      this.schemes.set(target.apiHost, { scheme: 'bearer', realm, ...(service !== undefined ? { service } : {}) });
      const cached = this.cache.get(key);
      // Another client in this thread may hold a token for this scope already; only a refused one is refetched.
      if (cached && rejected !== `Bearer ${cached}`) return `Bearer ${cached}`;
      if (cached) this.cache.delete(key);
      let pending = this.inflight.get(key);
      if (!pending) {
        pending = fetchBearerToken({
          realm,
          ...(service !== undefined ? { service } : {}),
          scopes: [scope],
          ...(creds ? { credentials: creds } : {}),
          userAgent: this.opts.userAgent,
          timeoutMs: this.opts.timeoutMs,
          ...(signal ? { signal } : {}),
          ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
          allowHttp: this.opts.allowHttp,
          registry: target.registry,
        });
        this.inflight.set(key, pending);
        pending.then(
          (token) => this.cache.set(key, token),
          () => undefined,
        ).finally(() => this.inflight.delete(key));
      }
      try {
        return `Bearer ${(await pending).token}`;
      } catch (error) {
        // Another caller's abort ended the shared fetch; for us it is only a blip worth a retry.
        if (isAbortError(error) && !signal?.aborted) {
          throw new RootforgeError('ERR_NETWORK', `${where}: a shared token request was interrupted`, { temporary: true, cause: error });
        }
        throw error;
      }
    }

    if (basic) {
      this.schemes.set(target.apiHost, { scheme: 'basic' });
      if (creds?.username === undefined) {
        throw new RootforgeError('ERR_UNAUTHORIZED', `${where} requires a login for ${target.repository} and the Docker config has none for it`);
      }
      const header = basicAuthorization(creds);
      if (rejected === header) throw new RootforgeError('ERR_UNAUTHORIZED', `${where} refused the credentials from the Docker config`);
      return header;
    }

    const schemes = challenges.map((c) => c.scheme).join(', ');
    throw new RootforgeError('ERR_UNAUTHORIZED', schemes ? `${where} asks for unsupported authentication (${schemes})` : `${where} answered 401 without saying how to authenticate`);
  }
}
