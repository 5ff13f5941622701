import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { redisForRun, startInProcessWorkers } from '../../src/cli/local-stack.js';
import { sha256OfFile } from '../../src/engine/backup-check.js';
import { Migrator } from '../../src/engine/index.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { connectionOptionsFromUrl, DEFAULT_REDIS_URL, redisUrlFromEnv } from '../../src/queue/connection.js';
import type { MigrationJobResult } from '../../src/queue/contract.js';
import { answersPing, findRedisServer, freePort } from '../../src/queue/local-redis.js';
import { acquireFileLock } from '../../src/worker/file-lock.js';
import { filesIn, makeProject } from '../fleet/helpers.js';
import { redisForFile } from '../helpers/redis.js';
import { tempDir } from '../helpers/sqlite.js';
import { captureLogger, holdSqliteLock, waitFor } from '../queue/helpers.js';

const silent = pino({ level: 'silent' });

describe('Redis and workers for a run on a machine without a configured Redis', () => {
  it('uses REDIS_URL when it is set, without probing', async () => {
    const redis = await redisForRun(silent, { REDIS_URL: 'redis://example.invalid:6380' });
    expect(redis).toMatchObject({ url: 'redis://example.invalid:6380', private: false });
  });

  it('takes a blank REDIS_URL for the default, as every command does', async () => {
    for (const blank of ['', '  ']) {
      expect(redisUrlFromEnv({ REDIS_URL: blank })).toBe(DEFAULT_REDIS_URL);
      // Not set: the default port is probed (here a free one), then a private redis-server is looked for.
      const nobody = await freePort();
      await expect(redisForRun(silent, { REDIS_URL: blank, PATH: tempDir() }, nobody)).rejects.toThrow(
        `REDIS_URL is not set and no Redis answers on 127.0.0.1:${nobody}.`,
      );
    }
  });

  it("says in one sentence, with redis-server's own words, why the private redis-server did not start", async () => {
    const bin = tempDir();
    const fake = path.join(bin, 'redis-server');
    fs.writeFileSync(
      fake,
      '#!/bin/sh\necho "*** FATAL CONFIG FILE ERROR ***" >&2\necho "Bad directory" >&2\nexit 1\n',
    );
    fs.chmodSync(fake, 0o755);
    const nobody = await freePort();
    await expect(redisForRun(silent, { PATH: bin }, nobody)).rejects.toThrow(
      expect.objectContaining({
        code: 'REDIS_UNAVAILABLE',
        message: `REDIS_URL is not set, no Redis answers on 127.0.0.1:${nobody}, and a private redis-server (${fake}) could not be started: redis-server exited at start (with code 1): *** FATAL CONFIG FILE ERROR *** / Bad directory.`,
      }),
    );
  });

  it('starts a private redis-server when nothing answers, runs a rollout with in-process workers, then stops it', async () => {
    const nobody = await freePort();
    const redis = await redisForRun(silent, { PATH: process.env.PATH }, nobody);
    expect(redis.private).toBe(true);
    const port = Number(new URL(redis.url).port);
    expect(await answersPing(port)).toBe(true);

    const root = tempDir();
    const targets = ['one', 'two'].map((name) => makeProject(root, name));
    const queueName = 'local-stack-test';
    const workers = startInProcessWorkers({ redisUrl: redis.url, queueName, targets, logger: silent });
    const fleet = createFleetClient({ connection: connectionOptionsFromUrl(redis.url), queueName });
    try {
      const report = await fleet.wait(await fleet.start({ op: 'up', targets }));
      expect(report.counts).toMatchObject({ total: 2, done: 2 });
      expect(filesIn(root).filter((name) => /\.backup_\d{8}T\d{9}Z\.db$/.test(name))).toHaveLength(2);
    } finally {
      await fleet.close();
      await workers.close();
      await redis.stop();
    }
    expect(await answersPing(port)).toBe(false);
  });

  describe('with a Redis of their own', () => {
    const redis = redisForFile();

    it('takes back the job of a worker that died within --stall-timeout, as gao-migrate worker does', async () => {
      const dbPath = makeProject(tempDir(), 'stalled');
      const queueName = `local-stack-stall-${randomUUID()}`;
      const connection = connectionOptionsFromUrl(redis.url);
      const queue = new Queue(queueName, { connection });
      // A worker that takes the job, then dies (kill -9) before it ends: its 2 s job lock is never renewed.
      const dead = new Worker(queueName, null, { connection, lockDuration: 2000, autorun: false });
      const job = await queue.add('migrate-up', { dbPath }, { attempts: 1 });
      expect((await dead.getNextJob('dead-worker'))?.id).toBe(job.id);
      await dead.close();
      expect(await job.getState()).toBe('active');

      const workers = startInProcessWorkers({
        redisUrl: redis.url,
        queueName,
        targets: [dbPath],
        logger: silent,
        stallTimeoutMs: 2000,
      });
      try {
        // BullMQ's default stalled-job check comes every 30 s: the job would still be active long after this.
        await waitFor(
          async () => (await queue.getJobState(job.id as string)) === 'completed',
          'the job taken back',
          {
            timeoutMs: 20_000,
          },
        );
        expect(new Migrator().verify({ dbPath }).status).toBe('verified');
      } finally {
        await workers.close();
        await queue.obliterate({ force: true });
        await queue.close();
      }
    });
    it('gives its worker the --lock-timeout fleet was given: a held <db>.lock fails the job after that wait', async () => {
      const dbPath = makeProject(tempDir(), 'lock-held');
      const hash = sha256OfFile(dbPath);
      const queueName = `local-stack-lock-${randomUUID()}`;
      const queue = new Queue(queueName, { connection: connectionOptionsFromUrl(redis.url) });
      const held = await acquireFileLock(dbPath);
      const workers = startInProcessWorkers({
        redisUrl: redis.url,
        queueName,
        targets: [dbPath],
        logger: silent,
        lockTimeoutMs: 300,
      });
      try {
        const job = await queue.add('migrate-up', { dbPath }, { attempts: 1 });
        // The default wait is 30 s: the job would still be waiting for the lock when this gives up.
        await waitFor(
          async () => (await queue.getJobState(job.id as string)) === 'failed',
          'the job to fail',
          {
            timeoutMs: 20_000,
          },
        );
        expect((await queue.getJob(job.id as string))?.failedReason).toBe(
          `FILE_LOCK_HELD: The file lock ${dbPath}.lock is held by another worker (waited 300 ms); nothing was changed.`,
        );
      } finally {
        await workers.close();
        await held.release();
        await queue.obliterate({ force: true });
        await queue.close();
      }
      expect(sha256OfFile(dbPath)).toBe(hash);
    });

    it('gives its worker the --busy-timeout fleet was given: a database held past the default 5 s waits, then migrates', async () => {
      const dbPath = makeProject(tempDir(), 'sqlite-held');
      const queueName = `local-stack-busy-${randomUUID()}`;
      const queue = new Queue(queueName, { connection: connectionOptionsFromUrl(redis.url) });
      const { logger, lines } = captureLogger();
      const holder = await holdSqliteLock(dbPath);
      const workers = startInProcessWorkers({
        redisUrl: redis.url,
        queueName,
        targets: [dbPath],
        logger,
        busyTimeoutMs: 120_000,
      });
      try {
        const job = await queue.add('migrate-up', { dbPath }, { attempts: 1 });
        await waitFor(() => lines.find((line) => line.step === 'preconditions'), 'the engine to start');
        // Past the default busy timeout (5 s), which would have failed the job with DB_LOCKED by now.
        await new Promise((resolve) => setTimeout(resolve, 6_000));
        expect(await queue.getJobState(job.id as string)).toBe('active');
        await holder.release();
        await waitFor(
          async () => (await queue.getJobState(job.id as string)) === 'completed',
          'the job to complete',
        );
        const done = await queue.getJob(job.id as string);
        expect((done?.returnvalue as MigrationJobResult | undefined)?.status).toBe('applied');
      } finally {
        await holder.release();
        await workers.close();
        await queue.obliterate({ force: true });
        await queue.close();
      }
    });
  });

  it("starts the redis-server found on the PATH it is given, not on the process's own", async () => {
    const nobody = await freePort();
    const real = findRedisServer();
    expect(real).not.toBeNull();
    const ownPath = process.env.PATH;
    process.env.PATH = tempDir(); // no redis-server there
    let redis: Awaited<ReturnType<typeof redisForRun>> | undefined;
    try {
      redis = await redisForRun(silent, { PATH: path.dirname(real as string) }, nobody);
    } finally {
      process.env.PATH = ownPath;
    }
    try {
      expect(redis.private).toBe(true);
      expect(await answersPing(Number(new URL(redis.url).port))).toBe(true);
    } finally {
      await redis.stop();
    }
  });

  it('says how to get Redis when none is configured, none answers and none is installed', async () => {
    const nobody = await freePort();
    await expect(redisForRun(silent, { PATH: tempDir() }, nobody)).rejects.toThrow(
      /no Redis answers on 127\.0\.0\.1:\d+\. Install Redis \(Debian\/Ubuntu: sudo apt-get install redis-server/,
    );
  });
});
