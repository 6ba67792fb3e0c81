#!/usr/bin/env node
// The bin: the bundled CLI when the build made one (it starts about 0.15 s sooner), else the compiled modules.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundled = new URL('../../bundle/rootforge.js', import.meta.url);
await import(existsSync(fileURLToPath(bundled)) ? bundled.href : './main.js');
