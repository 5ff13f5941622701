#!/usr/bin/env node
// Another service adding a migration job with BullMQ alone (the job contract in the README), then waiting for a
// gao-migrate worker to run it. Needs a worker on the same Redis and queue: `gao-migrate worker --roots DIR`, or
// examples/worker.mjs.
//
//   REDIS_URL=redis://127.0.0.1:6379 node examples/add-job-with-bullmq.mjs path/to/.gao-dev/documents.db
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';

const dbPath = path.resolve(process.argv[2] ?? '.gao-dev/documents.db');
const queueName = process.env.GAO_MIGRATE_QUEUE || 'migrations';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
// QueueEvents blocks on its connection: BullMQ asks for one that retries for ever (maxRetriesPerRequest: null).
// Connections given to BullMQ are the caller's to close: both are quit at the end.
const connections = [0, 1].map(() => new Redis(redisUrl, { maxRetriesPerRequest: null }));

const queue = new Queue(queueName, { connection: connections[0] });
const events = new QueueEvents(queueName, { connection: connections[1] });
try {
  await events.waitUntilReady(); // listening before the job is added, so that its end is not missed
  const job = await queue.add(
    'migrate-up', // or 'migrate-down', 'verify'
    { dbPath }, // the worker resolves it on its own host, under its allowed roots
    { attempts: 5, backoff: { type: 'exponential', delay: 1000 } }, // retryable failures (DB_LOCKED, ...) retry
  );
  console.log(`job ${job.id} queued for ${dbPath}`);
  const result = await job.waitUntilFinished(events, 5 * 60_000);
  console.log(
    `${result.status}${result.backupPath ? `, backup ${result.backupPath}` : ''}, by ${result.worker.host}`,
  );
} catch (error) {
  // A failed job: its failedReason starts with the error code (PATH_NOT_ALLOWED: ..., DB_NOT_FOUND: ...).
  console.error(`failed: ${error.message}`);
  process.exitCode = 2;
} finally {
  await events.close();
  await queue.close();
  await Promise.all(connections.map((connection) => connection.quit()));
}
