#!/usr/bin/env node
import { run } from './run.js';

// The only place rootforge exits.
process.exit(await run(process.argv.slice(2)));
