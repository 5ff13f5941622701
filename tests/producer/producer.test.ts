import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../src/producer/producer.js';
import { freePort } from '../../src/queue/local-redis.js';
import { RedisRefusedError, RedisUnavailableError } from '../../src/queue/redis-check.js';
import { createMigrationWorker } from '../../src/worker/migration-worker.js';
import { redisForFile } from '../helpers/redis.js';
import { captureLogger, sampleDb, tempDir } from '../queue/helpers.js';

const redis = redisForFile();
let producer: Producer;
let queueName: string;
let dir: string;

beforeEach(async () => {
  queueName = `test-${randomUUID()}`;
  dir = tempDir();
  producer = await createProducer({ redisUrl: redis.url, queueName });
});
afterEach(async () => {
  await producer.queue.obliterate({ force: true });
  await producer.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('createProducer', () => {
  it('adds one job per database with an absolute path, attempts and exponential backoff', async () => {
    const dbPath = sampleDb(dir, 'one');
    const relative = path.relative(process.cwd(), dbPath);
    const [job] = await producer.enqueue('verify', [relative], { attempts: 3 });
    expect(job).toMatchObject({ name: 'verify', dbPath, deduplicated: false });
    const stored = await producer.queue.getJob(job?.jobId as string);
    expect(stored?.data).toEqual({ dbPath });
    expect(stored?.opts).toMatchObject({ attempts: 3, backoff: { type: 'exponential', delay: 1000 } });
  });

  it('collapses the same operation on the same database while a job is waiting or running', async () => {
    const a = sampleDb(dir, 'a');
    const b = sampleDb(dir, 'b');
    const first = await producer.enqueue('up', [a, b, a]);
    expect(first.map((job) => job.deduplicated)).toEqual([false, false, true]);
    expect(first[2]?.jobId).toBe(first[0]?.jobId);
    const again = await producer.enqueue('up', [a, b]);
    expect(again.map((job) => job.jobId)).toEqual([first[0]?.jobId, first[1]?.jobId]);
    expect(again.every((job) => job.deduplicated)).toBe(true);
    // A different operation or a dry run is another job.
    const other = await producer.enqueue('up', [a], { dryRun: true });
    const verify = await producer.enqueue('verify', [a]);
    expect(new Set([first[0]?.jobId, other[0]?.jobId, verify[0]?.jobId]).size).toBe(3);
    expect(await producer.queue.getWaitingCount()).toBe(4);

    // Once finished, the same operation can be queued again.
    const worker = createMigrationWorker({
      redisUrl: redis.url,
      queueName,
      roots: [dir],
      logger: captureLogger().logger,
    });
    try {
      await producer.waitForJobs([...first, ...other, ...verify]);
      const later = await producer.enqueue('up', [a]);
      expect(later[0]?.deduplicated).toBe(false);
      expect(later[0]?.jobId).not.toBe(first[0]?.jobId);
      const [outcome] = await producer.waitForJobs(later);
      expect(outcome?.result?.status).toBe('already-applied');
    } finally {
      await worker.close();
    }
  });

  it('never collapses a request into a job queued before a change it must follow: up, down, up is three jobs', async () => {
    const dbPath = sampleDb(dir, 'a');
    const [up] = await producer.enqueue('up', [dbPath]);
    const [verify] = await producer.enqueue('verify', [dbPath]);
    const [down] = await producer.enqueue('down', [dbPath]);
    const [upAgain] = await producer.enqueue('up', [dbPath]);
    const [verifyAgain] = await producer.enqueue('verify', [dbPath]);
    expect(upAgain?.deduplicated).toBe(false);
    expect(verifyAgain?.deduplicated).toBe(false);
    const ids = [up, verify, down, upAgain, verifyAgain].map((job) => job?.jobId);
    expect(new Set(ids).size).toBe(5);
    // Nothing changes the database between the later ones and a repeat: that is collapsed as before.
    const repeated = await producer.enqueue('up', [dbPath, dbPath]);
    expect(repeated.map((job) => [job.jobId, job.deduplicated])).toEqual([
      [upAgain?.jobId, true],
      [upAgain?.jobId, true],
    ]);
    expect((await producer.enqueue('verify', [dbPath]))[0]?.jobId).toBe(verifyAgain?.jobId);
    const [downAgain] = await producer.enqueue('down', [dbPath]);
    expect(downAgain?.deduplicated).toBe(false);

    // Run in the order queued, they leave the database as the last request asked: rolled back.
    const worker = createMigrationWorker({
      redisUrl: redis.url,
      queueName,
      roots: [dir],
      logger: captureLogger().logger,
    });
    try {
      const queued = [up, verify, down, upAgain, verifyAgain, downAgain];
      const outcomes = await producer.waitForJobs(
        queued.map((job) => ({ jobId: String(job?.jobId), dbPath })),
      );
      expect(
        outcomes.map((outcome) => outcome.result?.status ?? outcome.failedReason?.split(':')[0]),
      ).toEqual(['applied', 'verified', 'rolled-back', 'applied', 'verified', 'rolled-back']);
    } finally {
      await worker.close();
    }
  });

  it('keys one database named through a symbolic link and by its real path as one: up, down, up is three jobs', async () => {
    const dbPath = sampleDb(dir, 'real');
    const link = path.join(dir, 'link');
    fs.symlinkSync(path.dirname(dbPath), link);
    const viaLink = path.join(link, path.basename(dbPath));

    const [up] = await producer.enqueue('up', [viaLink]);
    const [sameUp] = await producer.enqueue('up', [dbPath]);
    expect(sameUp).toMatchObject({ jobId: up?.jobId, deduplicated: true });
    const [down] = await producer.enqueue('down', [dbPath]);
    // Named through the link again, the last up must follow that down: a job of its own, not the first up.
    const [upAgain] = await producer.enqueue('up', [viaLink]);
    expect(upAgain?.deduplicated).toBe(false);
    expect(new Set([up?.jobId, down?.jobId, upAgain?.jobId]).size).toBe(3);
    // The job carries the path as given; the worker resolves it.
    expect((await producer.queue.getJob(String(upAgain?.jobId)))?.data).toEqual({ dbPath: viaLink });
  });

  it('still queues a database that is not there, whose job then fails with one sentence', async () => {
    const missing = path.join(dir, 'gone', '.gao-dev', 'documents.db');
    const [job] = await producer.enqueue('up', [missing, missing]);
    expect(await producer.queue.getWaitingCount()).toBe(1);
    const worker = createMigrationWorker({
      redisUrl: redis.url,
      queueName,
      roots: [dir],
      logger: captureLogger().logger,
    });
    try {
      const [outcome] = await producer.waitForJobs([{ jobId: String(job?.jobId), dbPath: missing }]);
      expect(outcome?.state).toBe('failed');
      expect(outcome?.failedReason).toMatch(/^DB_NOT_FOUND: [^\n]+\.$/);
    } finally {
      await worker.close();
    }
  });

  it('refuses a malformed migration id before anything is queued', async () => {
    await expect(producer.enqueue('up', [path.join(dir, 'x.db')], { migration: '6' })).rejects.toThrow(
      /migration/,
    );
    expect(await producer.queue.count()).toBe(0);
  });

  it('adds none of the list when one path in it cannot be a database', async () => {
    const good = sampleDb(dir, 'good');
    const bad = path.join(dir, 'a\0b', 'documents.db');
    await expect(producer.enqueue('up', [good, bad])).rejects.toThrow(
      /NUL character; nothing was enqueued\.$/,
    );
    expect(await producer.queue.count()).toBe(0);
  });
});

describe('createProducer and the database number in the URL', () => {
  const withDatabase = (database: number) => {
    const url = new URL(redis.url);
    url.pathname = `/${database}`;
    return url.href;
  };

  it('queues into the database the URL names', async () => {
    const other = await createProducer({ redisUrl: withDatabase(1), queueName });
    try {
      await other.enqueue('verify', [sampleDb(dir, 'one')]);
      expect(await other.queue.count()).toBe(1);
      expect(await producer.queue.count()).toBe(0); // database 0, same queue name
    } finally {
      await other.queue.obliterate({ force: true });
      await other.close();
    }
  });

  it('refuses a database Redis does not have, where ioredis would go on in database 0', async () => {
    const attempt = createProducer({ redisUrl: withDatabase(9999), queueName });
    await expect(attempt).rejects.toBeInstanceOf(RedisRefusedError);
    await expect(attempt).rejects.toMatchObject({
      code: 'REDIS_REFUSED',
      message: expect.stringMatching(/refused the connection's setup \(ERR DB index is out of range\)/),
    });
  });
});

describe('createProducer without Redis', () => {
  it('fails fast with one clear sentence when Redis does not answer', async () => {
    const port = await freePort();
    const attempt = createProducer({ redisUrl: `redis://:secret@127.0.0.1:${port}`, queueName: 'x' });
    await expect(attempt).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(attempt).rejects.toThrow(
      /^Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
  });
});
