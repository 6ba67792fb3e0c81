import { EnvHttpProxyAgent, Pool, type buildConnector, type Dispatcher } from 'undici';
import { proxySettings, proxyUnreachable } from './proxy.js';
import { caBundle, trustContext } from './trust.js';

export interface DispatcherOptions {
  /** Where HTTP(S)_PROXY, NO_PROXY and SSL_CERT_FILE are read from; never process.env behind the caller's back. */
  env: NodeJS.ProcessEnv;
  /** PEM CA bundle trusted besides Node's roots; overrides SSL_CERT_FILE. */
  caFile?: string;
  /** Connect and TLS handshake limit, to the registry and to the proxy. */
  timeoutMs: number;
}

type Connector = buildConnector.connector;

/** Reports a failed connection to the proxy as the proxy's failure, not the registry's. */
function blamingProxy(connect: Connector, proxyUrl: string): Connector {
  return (options, callback) =>
    connect(options, (error, socket) => (error ? callback(proxyUnreachable(proxyUrl, error), null) : callback(null, socket as NonNullable<typeof socket>)));
}

function sameOrigin(a: string | URL, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

// One dispatcher per settings, shared by every client in the thread: clients are cheap and short-lived, connection pools are not.
const dispatchers = new Map<string, Dispatcher>();

/** The dispatcher every registry request goes through (manifests, blobs, token endpoints): proxies, trusted CAs, connect timeout. */
export function registryDispatcher({ env, caFile, timeoutMs }: DispatcherOptions): Dispatcher {
  const proxies = proxySettings(env);
  const bundle = caBundle(caFile, env);
  const key = JSON.stringify([timeoutMs, proxies, bundle]);
  let dispatcher = dispatchers.get(key);
  if (dispatcher) return dispatcher;
  const proxyUrls = [proxies.httpProxy, proxies.httpsProxy].filter(Boolean);
  // The same trust for the registry, for a registry behind a CONNECT tunnel, and for an https:// proxy.
  const tls = { timeout: timeoutMs, ...(bundle ? { secureContext: trustContext(bundle) } : {}) };
  dispatcher = new EnvHttpProxyAgent({
    // Given explicitly, even when empty, so undici never falls back to process.env.
    ...proxies,
    connect: tls,
    requestTls: tls,
    proxyTls: tls,
    // Plain-HTTP registries are asked in absolute form, as Docker does; proxies often refuse CONNECT to ports other than 443.
    proxyTunnel: false,
    // The proxy's own connection: for CONNECT tunnels (clientFactory) and for absolute-form requests (factory).
    clientFactory: (origin, opts) => poolBlamingProxy(origin, opts, origin.href),
    factory: (origin, opts) => {
      const proxyUrl = proxyUrls.find((url) => sameOrigin(origin, url));
      return proxyUrl ? poolBlamingProxy(origin, opts, proxyUrl) : new Pool(origin, opts);
    },
  });
  dispatchers.set(key, dispatcher);
  return dispatcher;
}

function poolBlamingProxy(origin: string | URL, opts: object, proxyUrl: string): Dispatcher {
  const { connect } = opts as { connect?: Connector };
  return new Pool(origin, { ...opts, ...(typeof connect === 'function' ? { connect: blamingProxy(connect, proxyUrl) } : {}) });
}
