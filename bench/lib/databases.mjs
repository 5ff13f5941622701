/**
 * Sample databases for the benchmarks. They live under os.tmpdir(), never in the repository: generated once per
 * size (a million learnings takes a while) into a cache directory, then copied for each run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSampleDatabase } from '../../dist/sample/create-sample-database.js';

/** Bump when the sample generator changes, so that stale cached databases are not reused. */
const CACHE_VERSION = 1;
const SEED = 1;

export const BENCH_ROOT = path.join(os.tmpdir(), 'gao-migrate-bench');
const CACHE_DIR = path.join(BENCH_ROOT, `cache-v${CACHE_VERSION}`);

/** Path of a cached sample database at schema 005 with `learnings` rows; generates it when missing. */
export function sampleDatabase(learnings, { log = () => {} } = {}) {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const finalPath = path.join(CACHE_DIR, `sample-${learnings}.db`);
  if (fs.existsSync(finalPath)) return { path: finalPath, generatedMs: null };
  const partial = `${finalPath}.partial-${process.pid}`;
  fs.rmSync(partial, { force: true });
  log(`generating a sample database of ${learnings.toLocaleString('en-US')} learnings...`);
  const started = performance.now();
  createSampleDatabase(partial, { learnings, seed: SEED });
  fs.renameSync(partial, finalPath);
  return { path: finalPath, generatedMs: performance.now() - started };
}

/** A fresh scratch directory for one benchmark process; removed by `cleanup()`. */
export function scratchDirectory() {
  fs.mkdirSync(BENCH_ROOT, { recursive: true });
  const dir = fs.mkdtempSync(path.join(BENCH_ROOT, 'run-'));
  return {
    dir,
    file: (name) => path.join(dir, name),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Removes a database file and whatever SQLite or the tool left beside it (journal, WAL, backups). */
export function removeDatabase(dbPath) {
  const dir = path.dirname(dbPath);
  const stem = path.parse(dbPath).name;
  for (const name of fs.readdirSync(dir)) {
    if (
      name === path.basename(dbPath) ||
      name.startsWith(`${path.basename(dbPath)}-`) ||
      name.startsWith(`${stem}.`)
    ) {
      fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}
