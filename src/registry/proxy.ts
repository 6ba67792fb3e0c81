import { RootforgeError } from '../errors.js';

/** HTTP(S)_PROXY and NO_PROXY as an environment gives them; empty means unset. */
export interface ProxySettings {
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
}

/** Lowercase names win over uppercase ones, as undici's EnvHttpProxyAgent and curl read them. */
export function proxySettings(env: NodeJS.ProcessEnv): ProxySettings {
  return {
    httpProxy: env.http_proxy ?? env.HTTP_PROXY ?? '',
    httpsProxy: env.https_proxy ?? env.HTTPS_PROXY ?? '',
    noProxy: env.no_proxy ?? env.NO_PROXY ?? '',
  };
}

/** A proxy URL as messages show it: without the user and password it may carry. */
export function describeProxy(proxyUrl: string): string {
  try {
    return new URL(proxyUrl).host;
  } catch {
    return 'the configured proxy';
  }
}

/** Failing to reach the proxy itself, with its name rather than a bare connect error that seems to be the registry's. */
export function proxyUnreachable(proxyUrl: string, cause: Error): RootforgeError {
  const code = (cause as NodeJS.ErrnoException).code;
  return new RootforgeError('ERR_PROXY', `cannot reach the proxy ${describeProxy(proxyUrl)}: ${code ?? cause.message}`, { cause, temporary: true });
}

// undici's own wording for a proxy that answers a CONNECT, or a plain request, with other than success.
const TUNNEL_REFUSED = /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling$/;
const AUTH_REQUIRED = /^Proxy Authentication Required \(407\)$/;

/** The proxy answered but would not forward the request; undefined for any other error. */
export function proxyRefusal(error: unknown, where: string): RootforgeError | undefined {
  const message = error instanceof Error ? error.message : '';
  const status = AUTH_REQUIRED.test(message) ? 407 : Number(TUNNEL_REFUSED.exec(message)?.[1] ?? 0);
  if (!status) return undefined;
  if (status === 407) {
    return new RootforgeError('ERR_PROXY', `${where}: the proxy asks for a login (HTTP 407)`, {
      cause: error,
      hint: 'Put the proxy login in the proxy URL (http://user:password@proxy:3128), or add the registry to NO_PROXY.',
    });
  }
  // 502-504 say the proxy could not reach the registry just now; anything else is its policy.
  return new RootforgeError('ERR_PROXY', `${where}: the proxy refused to connect to the registry (HTTP ${status})`, { cause: error, temporary: status >= 502 && status <= 504 });
}
