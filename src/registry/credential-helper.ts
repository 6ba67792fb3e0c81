import { execa } from 'execa';
import { RootforgeError } from '../errors.js';
import type { RegistryCredentials } from './docker-config.js';

export interface CredentialHelperOptions {
  /** Environment of the helper, PATH included; it replaces process.env. */
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/** The Username a helper answers with when Secret is an identity (refresh) token, as Docker defines it. */
const IDENTITY_TOKEN_USERNAME = '<token>';
/** What docker-credential-helpers print (on stdout) for a server they hold nothing for. */
const NOT_FOUND = /credentials not found/i;
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * Asks `docker-credential-<helper> get` for `serverUrl`'s login, as Docker does; undefined when the
 * helper holds none. Its output holds secrets, so no message ever quotes it.
 */
export async function credentialsFromHelper(helper: string, serverUrl: string, opts: CredentialHelperOptions): Promise<RegistryCredentials | undefined> {
  const program = `docker-credential-${helper}`;
  const fail = (why: string): RootforgeError =>
    new RootforgeError('ERR_CREDENTIAL_HELPER', `credential helper ${program} ${why} for ${serverUrl}`, {
      hint: `Check ${program} works (\`echo ${serverUrl} | ${program} get\`), or remove it from credHelpers/credsStore in the Docker config.`,
    });
  // The name comes from a config file; a slash would make it a path to any program.
  if (!HELPER_NAME.test(helper)) throw fail('has a name that is not a plain program name');

  const result = await execa(program, ['get'], {
    input: serverUrl,
    env: opts.env,
    extendEnv: false,
    timeout: opts.timeoutMs,
    maxBuffer: MAX_OUTPUT_BYTES,
    reject: false,
    stripFinalNewline: true,
  });
  if (result.code === 'ENOENT') throw fail('is not on PATH');
  // execvp says EACCES, not ENOENT, when the program is missing but a PATH directory is not searchable.
  if (result.code === 'EACCES') throw fail('is not on PATH, or not executable (EACCES)');
  if (result.timedOut) throw fail(`did not answer within ${Math.round(opts.timeoutMs / 1000)} s`);
  if (result.exitCode !== 0) {
    if (NOT_FOUND.test(result.stdout) || NOT_FOUND.test(result.stderr)) return undefined;
    throw fail(result.exitCode === undefined ? `could not be run (${result.code ?? result.signal ?? 'unknown error'})` : `failed with exit code ${result.exitCode}`);
  }

  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(result.stdout) as typeof answer;
  } catch {
    throw fail('answered with something other than JSON');
  }
  if (typeof answer?.Secret !== 'string' || answer.Secret === '') throw fail('answered without a Secret');
  const username = typeof answer.Username === 'string' ? answer.Username : '';
  return username === IDENTITY_TOKEN_USERNAME ? { identityToken: answer.Secret } : { username, password: answer.Secret };
}
