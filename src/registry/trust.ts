import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { RootforgeError } from '../errors.js';

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';

/** The PEM certificates in `text`, in order; indexOf takes 0.3 ms over a system bundle, where a lazy regex took 5. */
export function pemCertificates(text: string): string[] {
  const pems: string[] = [];
  for (let at = text.indexOf(PEM_BEGIN); at >= 0; ) {
    const end = text.indexOf(PEM_END, at + PEM_BEGIN.length);
    if (end < 0) break;
    pems.push(text.slice(at, end + PEM_END.length));
    at = text.indexOf(PEM_BEGIN, end + PEM_END.length);
  }
  return pems;
}

export interface CaBundle {
  path: string;
  /** Set when the path came from the environment, so a stale variable is named in errors. */
  fromEnv?: 'SSL_CERT_FILE';
  /** NODE_EXTRA_CA_CERTS, which Node drops once a CA list is given, so it is added back. */
  extraCaCerts?: string;
}

/** The CA bundle to trust besides Node's roots: `--ca-file`, else SSL_CERT_FILE; undefined when neither is set. */
export function caBundle(caFile: string | undefined, env: NodeJS.ProcessEnv): CaBundle | undefined {
  const extra = env.NODE_EXTRA_CA_CERTS ? { extraCaCerts: env.NODE_EXTRA_CA_CERTS } : {};
  if (caFile) return { path: caFile, ...extra };
  return env.SSL_CERT_FILE ? { path: env.SSL_CERT_FILE, fromEnv: 'SSL_CERT_FILE', ...extra } : undefined;
}

/** A certificate's identity for de-duplication: its base64 body, whatever the line wrapping. */
const pemBody = (pem: string): string => pem.slice(27, -25).replace(/\s/g, '');

/**
 * The bundle's certificates that are not in `known`, by body; each is checked, so a bundle that cannot be used
 * fails before any request. Each body is computed once: the caller adds exactly these.
 */
export function readCaBundle({ path, fromEnv }: CaBundle, known: ReadonlySet<string> = new Set()): Map<string, string> {
  const fail = (why: string): RootforgeError =>
    new RootforgeError('ERR_USAGE', `the CA bundle ${path}${fromEnv ? ` (from ${fromEnv})` : ''} ${why}`, {
      hint: 'Point --ca-file (or SSL_CERT_FILE) at a readable file of PEM CA certificates.',
    });
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw fail(`cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`);
  }
  const pems = pemCertificates(text);
  if (pems.length === 0) throw fail('holds no PEM certificate');
  const unknown = new Map<string, string>();
  pems.forEach((pem, i) => {
    const body = pemBody(pem);
    if (known.has(body) || unknown.has(body)) return;
    try {
      new X509Certificate(pem);
    } catch {
      throw fail(`has a certificate that cannot be parsed (number ${i + 1})`);
    }
    unknown.set(body, pem);
  });
  return unknown;
}

/** The certificates of NODE_EXTRA_CA_CERTS; an unreadable file is skipped, as Node does. */
function readExtraCaCerts(path: string | undefined): string[] {
  if (!path) return [];
  try {
    return pemCertificates(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}

/** The native half of a SecureContext; Node's own `ca` option adds certificates through it one by one. */
interface NativeContext {
  addCACert?: (pem: string) => void;
}

/**
 * One TLS context trusting Node's roots, NODE_EXTRA_CA_CERTS and the bundle; built once, since parsing hundreds of CAs per connection is slow.
 * System bundles repeat Node's roots, so only the certificates Node lacks are added to its default context: about 21 ms per thread, where a full `ca` list took 48.
 */
export function trustContext(bundle: CaBundle): SecureContext {
  const roots = new Set(rootCertificates.map(pemBody));
  const extra = new Map<string, string>();
  // Often both name the system bundle: it is read once.
  if (bundle.extraCaCerts !== bundle.path) {
    for (const pem of readExtraCaCerts(bundle.extraCaCerts)) {
      const body = pemBody(pem);
      if (!roots.has(body)) extra.set(body, pem);
    }
  }
  for (const [body, pem] of readCaBundle(bundle, roots)) extra.set(body, pem);
  const context = createSecureContext();
  const native = context.context as NativeContext;
  // Adding to a default context copies Node's root store first (crypto_context.cc, AddCACert), so the roots stay trusted.
  if (typeof native.addCACert === 'function') {
    for (const pem of extra.values()) native.addCACert(pem);
    return context;
  }
  return createSecureContext({ ca: [...rootCertificates, ...extra.values()] });
}
