#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm ci` (the `prepare` script) or `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('gao-migrate is not built yet: run `npm run build` in its directory first.\n');
  process.exit(2);
}
await import(entry.href);
