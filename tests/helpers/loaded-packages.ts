import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/gao-migrate.js', import.meta.url));
const TRACER = fileURLToPath(new URL('./trace-packages.mjs', import.meta.url));

/** Runs the built CLI and returns its exit status and the npm packages it loaded, sorted, each once. */
export function packagesLoadedBy(args: string[]): { status: number | null; packages: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-trace-'));
  const traceFile = path.join(dir, 'packages.txt');
  fs.writeFileSync(traceFile, '');
  try {
    const run = spawnSync(process.execPath, ['--import', TRACER, BIN, ...args], {
      cwd: path.dirname(BIN),
      env: { ...process.env, GAO_TRACE_FILE: traceFile, GAO_MIGRATE_LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const packages = [...new Set(fs.readFileSync(traceFile, 'utf8').split('\n').filter(Boolean))].sort();
    return { status: run.status, packages };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
