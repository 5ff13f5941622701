#!/usr/bin/env node
// npm run demo: a fleet rollout of migration 006 over sample gao-dev projects, through a real Redis queue and a
// real worker, with the progress bar, the summary table and the dashboard. A Node script (not a shell one) so
// that it runs the same on Windows, macOS and Linux.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import pino from 'pino';
import { redisForRun, startInProcessWorkers } from '../dist/cli/local-stack.js';
import { redisConnectionOf } from '../dist/cli/redis-connection.js';
import { createDashboardServer } from '../dist/dashboard/index.js';
import { createFleetClient, removeKeptOutcomes, rolloutsQueueName } from '../dist/fleet/index.js';
import { connectionOptionsFromUrl, redactRedisUrl } from '../dist/queue/connection.js';
import { removeLastChanges } from '../dist/queue/last-changes.js';
import { assertRedisReachable } from '../dist/queue/redis-check.js';
import { createSampleDatabase } from '../dist/sample/create-sample-database.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repo, 'bin', 'gao-migrate.js');
const say = (line) => process.stdout.write(`${line}\n`);
const logger = pino(
  { level: process.env.GAO_MIGRATE_LOG_LEVEL ?? 'warn' },
  pino.destination({ dest: 2, sync: true }),
);

const PROJECTS = [
  { name: 'atlas', learnings: 2000 },
  { name: 'borealis', learnings: 500, wal: true },
  { name: 'cobalt', learnings: 5000 },
  { name: 'dune', learnings: 1000 },
  { name: 'ember', learnings: 20000 },
  { name: 'fjord', learnings: 100, wal: true },
];

// Redis first: without one the demo can do nothing, and says why in one sentence before it makes anything.
const redis = await redisReachable();
const stamp = new Date().toISOString().replace(/[-:.]/g, '');
const root = path.join(os.tmpdir(), `gao-migrate-demo-${stamp}`);
say(`Creating ${PROJECTS.length} sample gao-dev projects (schema 005) under ${root}`);
for (const project of PROJECTS) {
  createSampleDatabase(path.join(root, project.name, '.gao-dev', 'documents.db'), {
    learnings: project.learnings,
    wal: project.wal === true,
    seed: project.learnings,
  });
}

say(
  `Redis: ${redactRedisUrl(redis.url)}${redis.private ? ' (a private redis-server started for this demo)' : ''}`,
);
const queueName = `gao-migrate-demo-${stamp}`;
const targets = PROJECTS.map((project) => path.join(root, project.name, '.gao-dev', 'documents.db'));
const workers = startInProcessWorkers({ redisUrl: redis.url, queueName, targets, logger });
say(`Worker: running in this process on queue ${queueName} (concurrency 1, roots ${root})\n`);

const env = {
  ...process.env,
  REDIS_URL: redis.url,
  GAO_MIGRATE_QUEUE: queueName,
  GAO_MIGRATE_LOG_LEVEL: 'warn',
};
const glob = path.join(root, '*', '.gao-dev', 'documents.db');
say(`$ gao-migrate fleet up --glob "${glob}" --preflight --canary 1 --max-failures 10% --wait`);
const exitCode = await new Promise((resolve) => {
  const child = spawn(
    process.execPath,
    [cli, 'fleet', 'up', '--glob', glob, '--preflight', '--canary', '1', '--max-failures', '10%', '--wait'],
    {
      env,
      stdio: 'inherit',
    },
  );
  child.on('exit', (code) => resolve(code ?? 2));
});
const unattended = !process.stdout.isTTY || Boolean(process.env.CI);
// The rollout may have ended because Redis went away: everything below needs it, and would wait for it for ever.
if (exitCode !== 0 && !(await redisAnswers())) await stopWithoutRedis();

const fleet = createFleetClient({ connection: connectionOptionsFromUrl(redis.url), queueName });
const [rolloutId] = await fleet.list(1);
await fleet.close();

const dashboard = createDashboardServer({
  redisUrl: redis.url,
  queueName,
  port: Number(process.env.PORT ?? 3000),
  logger,
});
let url;
try {
  ({ url } = await dashboard.listen());
} catch {
  // Port 3000 is taken: any free port will do for the demo.
  await dashboard.close();
  const fallback = createDashboardServer({ redisUrl: redis.url, queueName, port: 0, logger });
  ({ url } = await fallback.listen());
  Object.assign(dashboard, { close: () => fallback.close() });
}
say(`\nDashboard: ${url}/fleet/${rolloutId}  (queue: ${url}/queues, metrics: ${url}/metrics)`);
say(`Verify one by hand: node ${path.relative(process.cwd(), cli) || cli} verify --db ${targets[0]}`);

const stop = async () => {
  await dashboard.close();
  await workers.close();
  // Unattended runs (CI, pipes) leave nothing behind, in a shared Redis neither: at a terminal the queues stay
  // for the dashboard to show; a private redis-server keeps nothing once stopped.
  if (unattended && !redis.private) await removeQueues([queueName, rolloutsQueueName(queueName)]);
  await redis.stop();
};
if (!unattended) {
  say('\nPress Ctrl+C to stop the dashboard and the worker.');
  await new Promise((resolve) => process.once('SIGINT', resolve));
}
await stop();
if (unattended) {
  // At a terminal the sample projects stay to look at.
  fs.rmSync(root, { recursive: true, force: true });
  say(
    '\nNo terminal (or CI): the dashboard and the worker are stopped, and the sample projects and their queues removed, so the two lines above no longer answer. Run `npm run demo` at a terminal to keep them and look around.',
  );
} else {
  say(`The sample projects and their backups stay in ${root}`);
}
process.exitCode = exitCode;

/**
 * The Redis of this run (REDIS_URL, else 127.0.0.1:6379, else a private redis-server), once it answers a PING; else
 * the reason in one sentence with its stable code (a malformed REDIS_URL too), and exit 2, before anything is made.
 */
async function redisReachable() {
  let found;
  try {
    found = await redisForRun(logger);
    // A REDIS_URL that is no Redis URL is refused in the CLI's sentence (INVALID_INPUT).
    await assertRedisReachable(found.url, redisConnectionOf(found.url));
    return found;
  } catch (error) {
    if (typeof error?.code !== 'string' || !/^[A-Z_]+$/.test(error.code)) throw error;
    // Written at once: process.exit() below would not wait for a pipe.
    fs.writeSync(2, `demo: ${error.message} (${error.code})\n`);
    await found?.stop();
    process.exit(2);
  }
}

/** Whether the run's Redis still answers a PING (within `assertRedisReachable`'s 3 s). */
async function redisAnswers() {
  try {
    await assertRedisReachable(redis.url, redisConnectionOf(redis.url));
    return true;
  } catch {
    return false;
  }
}

/**
 * Redis stopped answering during the rollout (the fleet command has said so): stop the worker, which does not wait
 * for Redis once its job is done, and a private redis-server, say what happened in one sentence and exit 2. Run
 * unattended the sample projects are removed, as after a run that went well.
 */
async function stopWithoutRedis() {
  await workers.close();
  await redis.stop();
  if (unattended) fs.rmSync(root, { recursive: true, force: true });
  const projects = unattended ? 'the sample projects are removed' : `the sample projects stay in ${root}`;
  fs.writeSync(
    2,
    `demo: Redis at ${redactRedisUrl(redis.url)} stopped answering during the rollout, so the demo stops here; ${projects}. (REDIS_UNAVAILABLE)\n`,
  );
  process.exit(2);
}

/** Removes the demo's queues (their jobs, logs and results) from the Redis it used. */
async function removeQueues(names) {
  for (const name of names) {
    const queue = new Queue(name, { connection: connectionOptionsFromUrl(redis.url) });
    try {
      // The outcomes a rollout keeps beside the migrations queue are no job: obliterate leaves them.
      if (name === queueName && rolloutId) await removeKeptOutcomes(queue, rolloutId);
      await queue.obliterate({ force: true });
      // Each database's last changes, which keep its jobs in order, are no job either.
      await removeLastChanges(queue);
    } finally {
      await queue.close();
    }
  }
}
