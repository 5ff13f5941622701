// Queue benchmark: N databases of 1,000 learnings migrated `up` in a plain engine loop, then through Redis with
// one worker (concurrency 1, engine in its worker thread). Prints times, the ratio, per-job queue overhead and
// the worker's memory at start, middle and end. Uses dist/ (run `npm run build` first) and REDIS_URL or a
// throwaway redis-server. Usage: node bench/queue.mjs [--quick] [--count N] [--learnings N]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { Migrator } from '../dist/engine/migrator.js';
import { createProducer } from '../dist/producer/producer.js';
import { startLocalRedis } from '../dist/queue/local-redis.js';
import { createSampleDatabase } from '../dist/sample/create-sample-database.js';
import { createMigrationWorker } from '../dist/worker/migration-worker.js';

const args = process.argv.slice(2);
const flagValue = (flag, fallback) => {
  const index = args.indexOf(flag);
  return index === -1 ? fallback : Number(args[index + 1]);
};
const count = flagValue('--count', args.includes('--quick') ? 100 : 1000);
const learnings = flagValue('--learnings', 1000);
if (!Number.isInteger(count) || count < 1) throw new Error('--count takes a whole number of 1 or more');

const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-bench-queue-')));
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const memory = () => {
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
};

function makeDatabases(set) {
  const template = path.join(dir, 'template.db');
  if (!fs.existsSync(template)) createSampleDatabase(template, { learnings });
  return Array.from({ length: count }, (_, index) => {
    const dbPath = path.join(dir, set, `p${index}`, '.gao-dev', 'documents.db');
    fs.mkdirSync(path.dirname(dbPath), { recursive: true });
    fs.copyFileSync(template, dbPath);
    return dbPath;
  });
}

console.log(
  `queue bench: ${count} databases of ${learnings} learnings, node ${process.version}, ${os.cpus().length} CPUs`,
);
const plainDbs = makeDatabases('plain');
const queuedDbs = makeDatabases('queued');

// 1. Plain loop.
const migrator = new Migrator();
let plainEngineMs = 0;
let started = performance.now();
for (const dbPath of plainDbs) {
  const result = migrator.up({ dbPath });
  if (!result.ok) throw new Error(`plain run failed: ${result.error.message}`);
  plainEngineMs += result.durationMs;
}
const plainMs = performance.now() - started;

// 2. Through Redis, one worker in this process (its memory is this process's).
const server = process.env.REDIS_URL ? null : await startLocalRedis();
const redisUrl = process.env.REDIS_URL ?? server.url;
const queueName = `bench-${Date.now()}`;
const worker = createMigrationWorker({
  redisUrl,
  queueName,
  roots: [dir],
  logger: pino({ level: 'silent' }),
  autorun: false,
});
const producer = await createProducer({ redisUrl, queueName });
const enqueueStarted = performance.now();
const jobs = await producer.enqueue('up', queuedDbs);
const enqueueMs = performance.now() - enqueueStarted;

const memoryAt = { start: memory(), middle: null, end: null };
let completed = 0;
let failed = 0;
let queuedEngineMs = 0;
const allDone = new Promise((resolve) => {
  const settle = () => {
    if (completed + failed === count / 2 || (count === 1 && !memoryAt.middle)) memoryAt.middle = memory();
    if (completed + failed === count) resolve();
  };
  worker.worker.on('completed', (job) => {
    completed += 1;
    queuedEngineMs += job.returnvalue?.durationMs ?? 0;
    settle();
  });
  worker.worker.on('failed', (job, error) => {
    failed += 1;
    console.error(`job ${job?.id} failed: ${error.message}`);
    settle();
  });
});
started = performance.now();
worker.worker.run();
await allDone;
const queueMs = performance.now() - started;
memoryAt.middle ??= memory();
memoryAt.end = memory();

if (jobs.length !== count) throw new Error('not every database got a job');
await producer.queue.obliterate({ force: true });
await producer.close();
await worker.close();
await server?.stop();
fs.rmSync(dir, { recursive: true, force: true });

const perJob = (ms) => (ms / count).toFixed(2);
console.log(`plain engine loop:        ${plainMs.toFixed(0)} ms (${perJob(plainMs)} ms/db)`);
console.log(
  `enqueue ${count} jobs:       ${enqueueMs.toFixed(0)} ms (${perJob(enqueueMs)} ms/job, not in the ratio)`,
);
console.log(
  `through Redis, 1 worker:  ${queueMs.toFixed(0)} ms (${perJob(queueMs)} ms/db), ${completed} completed, ${failed} failed`,
);
console.log(`ratio queue / plain:      ${(queueMs / plainMs).toFixed(3)}x (target <= 1.15x)`);
console.log(`queue overhead per job:   ${((queueMs - plainMs) / count).toFixed(2)} ms (target < 2 ms)`);
console.log(
  `engine time per job:      plain ${perJob(plainEngineMs)} ms, in the worker thread ${perJob(queuedEngineMs)} ms`,
);
console.log(
  `time outside the engine:  plain ${perJob(plainMs - plainEngineMs)} ms/job, queue ${perJob(queueMs - queuedEngineMs)} ms/job`,
);
for (const [when, value] of Object.entries(memoryAt)) {
  console.log(`worker memory ${when.padEnd(7)}  rss ${mb(value.rss)}, heap ${mb(value.heapUsed)}`);
}
