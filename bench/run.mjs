/**
 * `npm run bench [-- --quick]`: the engine benchmark, then the queue benchmark when bench/queue.mjs exists, then
 * a worker's memory over a long run (bench/worker-memory.mjs), gathered into bench/results.json (no paths, no
 * generated databases: safe to commit), then docs/BENCHMARKS.md and docs/benchmarks.svg generated from it
 * (bench/lib/report-md.mjs).
 *
 * Each script runs in its own process, so that one's memory and loaded modules do not skew the other. A script
 * that writes JSON to the file named by --out (engine.mjs) or by the GAO_BENCH_OUT environment variable
 * (queue.mjs, worker-memory.mjs) has that JSON kept under its name in results.json.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-bench-out-'));

function runScript(name, args) {
  const script = path.join(benchDir, `${name}.mjs`);
  const out = path.join(outDir, `${name}.json`);
  const started = performance.now();
  const child = spawnSync(process.execPath, [script, ...args, ...(name === 'engine' ? ['--out', out] : [])], {
    stdio: 'inherit',
    env: { ...process.env, GAO_BENCH_OUT: out },
  });
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  const ok = child.status === 0;
  const results = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : null;
  if (!ok) process.stderr.write(`bench/${name}.mjs failed (exit ${child.status ?? child.signal})\n`);
  return { ok, seconds, results };
}

const summary = { mode: quick ? 'quick' : 'full', measuredAt: new Date().toISOString() };
const resultsPath = path.join(benchDir, 'results.json');
const engine = runScript('engine', argv);
summary.engine = { ok: engine.ok, seconds: engine.seconds, ...engine.results };
let ok = engine.ok;
const hasQueue = fs.existsSync(path.join(benchDir, 'queue.mjs'));
summary.queue = hasQueue ? { pending: true } : { skipped: 'bench/queue.mjs does not exist yet' };
// Written after each script, so that the engine figures survive a queue run that is stopped or fails.
writeResults();
if (hasQueue) {
  const queue = runScript('queue', quick ? ['--quick'] : []);
  summary.queue = { ok: queue.ok, seconds: queue.seconds, ...queue.results };
  ok &&= queue.ok;
  writeResults();
}
const memory = runScript('worker-memory', quick ? ['--quick'] : []);
summary.workerMemory = { ok: memory.ok, seconds: memory.seconds, ...memory.results };
ok &&= memory.ok;
writeResults();
fs.rmSync(outDir, { recursive: true, force: true });
// docs/BENCHMARKS.md and its chart, from the results just written.
try {
  const { writeReport } = await import('./lib/report-md.mjs');
  const written = writeReport();
  console.log(`Wrote ${path.relative(process.cwd(), written.doc)} and its chart.`);
} catch (error) {
  ok = false;
  process.stderr.write(`could not write docs/BENCHMARKS.md: ${error.stack ?? error}\n`);
}
console.log(
  `\nWrote bench/results.json (engine: ${engine.seconds} s${summary.queue.seconds ? `, queue: ${summary.queue.seconds} s` : ''}, worker memory: ${memory.seconds} s).`,
);
process.exitCode = ok ? 0 : 1;

function writeResults() {
  fs.writeFileSync(resultsPath, `${JSON.stringify(summary, null, 2)}\n`);
  formatLikeTheRepository(resultsPath);
}

/** results.json is committed and linted: let the repository's own formatter lay it out (short arrays on one line). */
function formatLikeTheRepository(filePath) {
  const biome = path.join(
    benchDir,
    '..',
    'node_modules',
    '.bin',
    process.platform === 'win32' ? 'biome.cmd' : 'biome',
  );
  if (!fs.existsSync(biome)) return;
  spawnSync(biome, ['format', '--write', filePath], { stdio: 'ignore', shell: process.platform === 'win32' });
}
