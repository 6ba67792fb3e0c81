/** Docker credential helpers as small shell scripts in a temp bin directory, for tests that put it first on PATH. */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `docker-credential-<name>` answering `get` like docker-credential-helpers do: JSON for the server named in
 * $RFTEST_SERVER, "credentials not found" (exit 1) for any other; every question is appended to $RFTEST_LOG.
 */
export const ANSWERING_HELPER = `#!/bin/sh
[ "$1" = get ] || { echo "unsupported action $1" >&2; exit 1; }
IFS= read -r server || true
printf '%s\\n' "$server" >> "$RFTEST_LOG"
if [ "$server" = "$RFTEST_SERVER" ]; then
  printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$server" "$RFTEST_USERNAME" "$RFTEST_SECRET"
else
  echo "credentials not found in native keychain"
  exit 1
fi
`;

export async function installCredentialHelper(binDir: string, name: string, script: string): Promise<void> {
  const file = join(binDir, `docker-credential-${name}`);
  await writeFile(file, script);
  await chmod(file, 0o755);
}
