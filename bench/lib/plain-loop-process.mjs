/**
 * One process of the plain engine loop, for bench/queue.mjs: migrates `up` each database listed (one path per
 * line) in the file named by argv[2], then prints `{ ms, engineMs }` as JSON: the loop's wall time and the sum of
 * the engine's own durations. Started in 1 and in 2 processes at once, it measures what the machine gives two
 * engines side by side, with no queue at all.
 */
import fs from 'node:fs';
import { Migrator } from '../../dist/engine/migrator.js';
import { turnEventLoop } from './measure.mjs';

const dbs = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean);
const migrator = new Migrator();
let engineMs = 0;
const started = performance.now();
for (const dbPath of dbs) {
  const result = migrator.up({ dbPath });
  if (!result.ok) throw new Error(`plain run failed on ${dbPath}: ${result.error?.message}`);
  engineMs += result.durationMs;
  await turnEventLoop();
}
process.stdout.write(`${JSON.stringify({ ms: performance.now() - started, engineMs })}\n`);
