import { join } from 'node:path';

/** The compiled CLI (`npm test` builds it first), run with `node` so tests exercise what users run. */
export const CLI_MAIN = join(import.meta.dirname, '../../dist/src/cli/launch.js');
