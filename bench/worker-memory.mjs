/**
 * Worker memory over a long run: one worker (the engine on its thread, as `gao-migrate worker` runs it) takes
 * batches of `up` jobs on fresh databases of 1,000 learnings; after each batch the process collects its garbage
 * and records its heap and resident set. A leak shows as a heap or RSS that keeps rising batch after batch;
 * RSS alone, sampled during a run (bench/queue.mjs), also swings with the allocator by about a tenth.
 *
 *   node bench/worker-memory.mjs [--quick] [--batches N] [--jobs N] [--out FILE]
 *
 * Default 13 batches of 400 jobs (--quick: 5 of 80). The first batch is the warm-up (compiled code, allocator
 * arenas, Redis connections); flatness is judged over the batches after it. Results as JSON to --out or GAO_BENCH_OUT (bench/run.mjs).
 * Uses dist/ (run `npm run build` first) and REDIS_URL or a throwaway redis-server.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createProducer } from '../dist/producer/producer.js';
import { startLocalRedis } from '../dist/queue/local-redis.js';
import { createSampleDatabase } from '../dist/sample/create-sample-database.js';
import { createMigrationWorker } from '../dist/worker/migration-worker.js';
import { halfPeakGrowth, round } from './lib/stats.mjs';

// Collecting garbage on demand needs --expose-gc: run again with it.
if (typeof globalThis.gc !== 'function') {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, ['--expose-gc', self, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(child.status ?? 1);
}

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    batches: { type: 'string' },
    jobs: { type: 'string' },
    out: { type: 'string' },
  },
});
const batches = Number(args.batches ?? (args.quick ? 5 : 13));
const jobsPerBatch = Number(args.jobs ?? (args.quick ? 80 : 400));
if (!Number.isInteger(batches) || batches < 3) throw new Error('--batches takes a whole number of 3 or more');
if (!Number.isInteger(jobsPerBatch) || jobsPerBatch < 1)
  throw new Error('--jobs takes a whole number of 1 or more');
const outFile = args.out ?? process.env.GAO_BENCH_OUT;

/**
 * "Flat", past the warm-up batch: the heap at the end within this much of its first figure, and the highest RSS of
 * the later half of the batches within this much of the highest of the earlier half. RSS swings by about a tenth
 * either way from batch to batch (native memory: the heap after collection stays flat; not traced further); a
 * leak lifts the whole band, so each half's peak is compared (10,000 jobs stayed between 128 and 158 MiB).
 */
const GROWTH_GOAL = 1.1;

const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function main() {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-bench-memory-')));
  const server = process.env.REDIS_URL ? null : await startLocalRedis();
  const redisUrl = process.env.REDIS_URL ?? server.url;
  const template = path.join(dir, 'template.db');
  createSampleDatabase(template, { learnings: 1000 });
  const queueName = `bench-memory-${Date.now()}`;
  const producer = await createProducer({ redisUrl, queueName });
  const logger = pino(
    { level: 'info' },
    pino.destination({ dest: path.join(dir, 'worker.log'), sync: true }),
  );
  const worker = createMigrationWorker({ redisUrl, queueName, roots: [dir], logger });
  const samples = [];
  process.stderr.write(`worker memory: ${batches} batches of ${jobsPerBatch} jobs\n`);
  try {
    for (let batch = 1; batch <= batches; batch++) {
      const batchDir = path.join(dir, `batch-${batch}`);
      const dbPaths = Array.from({ length: jobsPerBatch }, (_, index) => {
        const dbPath = path.join(batchDir, `p${index}`, '.gao-dev', 'documents.db');
        fs.mkdirSync(path.dirname(dbPath), { recursive: true });
        fs.copyFileSync(template, dbPath);
        return dbPath;
      });
      const failed = await runBatch(worker.worker, producer, dbPaths);
      if (failed > 0) throw new Error(`${failed} jobs of batch ${batch} failed`);
      fs.rmSync(batchDir, { recursive: true, force: true });
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 50));
      globalThis.gc();
      const usage = process.memoryUsage();
      samples.push({ jobs: batch * jobsPerBatch, rssMiB: mib(usage.rss), heapUsedMiB: mib(usage.heapUsed) });
      process.stderr.write(
        `  after ${batch * jobsPerBatch} jobs: RSS ${mib(usage.rss)} MiB, heap ${mib(usage.heapUsed)} MiB\n`,
      );
    }
  } finally {
    await worker.close();
    await producer.queue.obliterate({ force: true }).catch(() => {});
    await producer.close();
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const judged = samples.slice(1);
  const heapGrowth = round(judged.at(-1).heapUsedMiB / judged[0].heapUsedMiB);
  const rssGrowth = round(halfPeakGrowth(judged.map((s) => s.rssMiB)));
  const results = {
    kind: 'worker-memory',
    mode: args.quick ? 'quick' : 'full',
    measuredAt: new Date().toISOString(),
    batches,
    jobsPerBatch,
    samples,
    heapGrowth,
    rssGrowth,
    verdicts: [
      {
        goal: `flat worker memory over ${(batches * jobsPerBatch).toLocaleString('en-US')} jobs, after a warm-up of ${jobsPerBatch} (after garbage collection, every ${jobsPerBatch} jobs: heap at the end within ${GROWTH_GOAL}x of its first figure, highest RSS of the later half within ${GROWTH_GOAL}x of the earlier half\u2019s)`,
        value: `heap ${heapGrowth}x, RSS ${rssGrowth}x`,
        met: heapGrowth <= GROWTH_GOAL && rssGrowth <= GROWTH_GOAL,
      },
    ],
  };
  const verdict = results.verdicts[0];
  console.log(`\n  [${verdict.met ? 'met ' : 'MISS'}] ${verdict.goal}: ${verdict.value}`);
  if (outFile) fs.writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
}

/** Enqueues the batch and waits until each of its jobs has completed or failed; answers how many failed. */
async function runBatch(worker, producer, dbPaths) {
  let finished = 0;
  let failed = 0;
  let resolveAll;
  const all = new Promise((resolve) => {
    resolveAll = resolve;
  });
  const onCompleted = () => {
    finished += 1;
    if (finished === dbPaths.length) resolveAll();
  };
  const onFailed = (job) => {
    if (job && job.attemptsMade < (job.opts.attempts ?? 1)) return;
    failed += 1;
    onCompleted();
  };
  worker.on('completed', onCompleted);
  worker.on('failed', onFailed);
  try {
    await producer.enqueue('up', dbPaths);
    await all;
  } finally {
    worker.off('completed', onCompleted);
    worker.off('failed', onFailed);
  }
  return failed;
}

await main();
