import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cloneTemplate,
  killProducerMidEnqueue,
  makeTemplate,
  type RedisServer,
  redisRestartMidRollout,
  redisUnreachable,
  runCli,
  startRedisServer,
  startWorker,
  stopAll,
  type Template,
  tempRoot,
} from '../../scripts/lib/reliability.mjs';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';

// Producers killed mid-enqueue, Redis restarted mid-rollout, Redis unreachable, and a password-protected Redis.
let root: string;
let redis: RedisServer;
let small: Template;

beforeAll(async () => {
  root = tempRoot('gao-migrate-redis-faults-test-');
  redis = await startRedisServer();
  small = makeTemplate(root, { learnings: 2000, seed: 31 });
});

afterAll(async () => {
  await stopAll();
  await redis?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('kill -9 of a producer half-way through enqueueing', () => {
  it('leaves only whole jobs; the same command again adds the rest, and nothing is migrated twice', async () => {
    const tiny = makeTemplate(root, { learnings: 10, seed: 32 });
    const result = await killProducerMidEnqueue({
      redisUrl: redis.url,
      root,
      template: tiny,
      databases: 150,
    });
    expect(result.killedMidway).toBe(true);
    expect(result.malformedJobs).toBe(0);
    expect(result.secondRunExit).toBe(0);
    expect(result.jobsAfterRerun).toBe(150);
    expect(result.completed).toBe(150);
    expect(result.failed).toEqual([]);
    expect(result.databasesWithOneBackup).toBe(150);
    expect(result.summary).toMatchObject({ corrupt: 0, neitherState: 0, wrongState: 0, badBackups: 0 });
  });
});

describe('Redis killed and restarted mid-rollout', () => {
  it('finishes the rollout with every database migrated once (append-only Redis)', async () => {
    const template = makeTemplate(root, { learnings: 8000, seed: 33 });
    const result = await redisRestartMidRollout({ root, template, databases: 6, workers: 2 });
    expect(result.completedAtRestart).toBeLessThan(result.databases);
    expect(result.rolloutState).toBe('completed');
    expect(result.databasesWithOneBackup).toBe(result.databases);
    expect(result.summary).toMatchObject({ corrupt: 0, neitherState: 0, wrongState: 0, badBackups: 0 });
  });
});

describe('Redis unreachable at start', () => {
  it('fails a producer fast with REDIS_UNAVAILABLE; a worker keeps retrying and then works', async () => {
    const result = await redisUnreachable({ root, template: small, waitBeforeStartMs: 2500 });
    expect(result.producerExit).toBe(2);
    expect(result.producerCode).toBe('REDIS_UNAVAILABLE');
    expect(result.producerMessage).toMatch(
      /^Cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
    expect(result.workerAliveWithoutRedis).toBe(true);
    expect(result.workerRedisErrorsLogged).toBe(1);
    expect(result.jobAfterRedisStarted).toBe('applied');
    expect(result.final).toMatchObject({ integrity: 'ok', state: 'after', badBackups: 0 });
  });
});

describe('a password-protected Redis', () => {
  it('never shows the password in logs, output or job data', async () => {
    const password = 'hunter2-S3cr3t-pw';
    const secured = await startRedisServer({ password });
    const queueName = 'secured';
    try {
      const dbPath = cloneTemplate(small, path.join(root, 'secured', '.gao-dev', 'documents.db'));
      const env = { REDIS_URL: secured.url, GAO_MIGRATE_QUEUE: queueName, GAO_MIGRATE_LOG_LEVEL: 'debug' };
      expect(secured.url).toContain(password);
      const worker = await startWorker({
        redisUrl: secured.url,
        queueName,
        roots: [root],
        env: { GAO_MIGRATE_LOG_LEVEL: 'debug' },
      });
      const enqueued = await runCli(['enqueue', 'up', '--db', dbPath, '--wait', '--json'], { env });
      expect(enqueued.code).toBe(0);
      const wrong = secured.url.replace(password, 'wrong-password-x');
      const refused = await runCli(['enqueue', 'up', '--db', dbPath, '--json'], {
        env: { ...env, REDIS_URL: wrong },
      });
      expect(refused.code).toBe(2);
      await worker.stop();
      const queue = new Queue(queueName, { connection: connectionOptionsFromUrl(secured.url) });
      const jobs = await queue.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed'], 0, -1);
      const logs = await Promise.all(jobs.map((job) => queue.getJobLogs(String(job.id))));
      await queue.close();
      expect(jobs.length).toBeGreaterThanOrEqual(1);
      const everything = [
        worker.stdout,
        worker.stderr,
        enqueued.stdout,
        enqueued.stderr,
        refused.stdout,
        refused.stderr,
        JSON.stringify(jobs.map((job) => [job.data, job.returnvalue, job.failedReason, job.opts])),
        JSON.stringify(logs),
      ].join('\n');
      expect(worker.stderr).toContain('***');
      expect(everything).not.toContain(password);
      expect(everything).not.toContain('wrong-password-x');
    } finally {
      await secured.stop();
    }
  });
});
