import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { createProducer, type Producer } from '../../src/producer/producer.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import type { MigrationJobResult } from '../../src/queue/contract.js';
import { acquireFileLock } from '../../src/worker/file-lock.js';
import { InvalidLogLevelError } from '../../src/worker/log-level.js';
import {
  createMigrationWorker,
  type MigrationWorker,
  type MigrationWorkerOptions,
} from '../../src/worker/migration-worker.js';
import { PROGRESS_WRITE_INTERVAL_MS, ProgressReporter } from '../../src/worker/progress-reporter.js';
import { redisForFile } from '../helpers/redis.js';
import { withDb } from '../helpers/sqlite.js';
import { captureLogger, holdSqliteLock, sampleDb, sha256, tempDir, waitFor } from '../queue/helpers.js';

const redis = redisForFile();
let queueName: string;
let dir: string;
let queue: Queue;
let producer: Producer;
const workers: MigrationWorker[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  queueName = `test-${randomUUID()}`;
  dir = tempDir();
  queue = new Queue(queueName, { connection: connectionOptionsFromUrl(redis.url) });
  producer = await createProducer({ redisUrl: redis.url, queueName });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  for (const worker of workers.splice(0)) await worker.close();
  await producer.close();
  await queue.obliterate({ force: true });
  await queue.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function startWorker(options: Partial<MigrationWorkerOptions> = {}) {
  const { logger, lines } = captureLogger();
  const worker = createMigrationWorker({ redisUrl: redis.url, queueName, roots: [dir], logger, ...options });
  workers.push(worker);
  return { worker, lines };
}

function tablesOf(dbPath: string): string[] {
  return withDb(dbPath, (db) =>
    (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as { name: string }[]).map(
      (row) => row.name,
    ),
  );
}

async function finished(jobId: string) {
  return waitFor(async () => {
    const state = await queue.getJobState(jobId);
    return state === 'completed' || state === 'failed' ? queue.getJob(jobId) : undefined;
  }, `job ${jobId} to finish`);
}

/** A bare BullMQ worker takes the next job by hand, as one that has not yet reached `<db>.lock` would hold it. */
async function takeNextJobByHand() {
  const other = new Worker(queueName, null, {
    connection: connectionOptionsFromUrl(redis.url),
    autorun: false,
  });
  cleanups.push(() => other.close(true));
  const token = randomUUID();
  return { job: await other.getNextJob(token), token };
}

describe('migration worker', () => {
  it('returns the engine result, its backup path and where it ran as the job output', async () => {
    const dbs = [sampleDb(dir, 'alpha'), sampleDb(dir, 'beta')];
    const { lines } = startWorker();
    const up = await producer.waitForJobs(await producer.enqueue('up', dbs));
    for (const [index, outcome] of up.entries()) {
      expect(outcome.state).toBe('completed');
      const result = outcome.result as MigrationJobResult;
      expect(result).toMatchObject({
        ok: true,
        op: 'up',
        status: 'applied',
        migration: '006',
        db: dbs[index],
      });
      expect(result.worker).toEqual({ host: os.hostname(), pid: process.pid });
      expect(result.lockWaitMs).toBeGreaterThanOrEqual(0);
      expect(path.dirname(result.backupPath as string)).toBe(path.dirname(dbs[index] as string));
      expect(path.basename(result.backupPath as string)).toMatch(/^documents\.backup_.+\.db$/);
      expect(fs.existsSync(result.backupPath as string)).toBe(true);
      expect(outcome.progress).toEqual({ step: 'done', percent: 100 });
      expect(fs.existsSync(`${dbs[index]}.lock`)).toBe(false);
    }

    const { logs } = await queue.getJobLogs(up[0]?.jobId as string);
    for (const step of ['lock', 'preconditions', 'backup', 'migrate', 'verify', 'commit', 'done']) {
      expect(logs.some((line) => line.includes(` ${step}`))).toBe(true);
    }
    const stepLines = lines.filter((line) => line.jobId === up[0]?.jobId && typeof line.step === 'string');
    expect(stepLines.length).toBeGreaterThanOrEqual(6);
    for (const line of stepLines) {
      expect(line).toMatchObject({ db: dbs[0] });
      expect(typeof line.durationMs).toBe('number');
    }

    withDb(dbs[0] as string, (db) =>
      db.exec(
        "INSERT INTO learning_applications (learning_id, outcome, applied_at) VALUES (1, 'success', 'now')",
      ),
    );
    const down = await producer.waitForJobs(await producer.enqueue('down', dbs));
    // What down dropped travels in the job's output, as the CLI prints it.
    expect(down.map((outcome) => outcome.result?.discarded[0]?.rows)).toEqual(
      dbs.map((_, i) => (i === 0 ? 1 : 0)),
    );
    for (const outcome of down) {
      expect(outcome.result).toMatchObject({ ok: true, status: 'rolled-back' });
      expect(path.basename(outcome.result?.backupPath as string)).toMatch(
        /^documents\.rollback_backup_.+\.db$/,
      );
    }
  });

  it('given a database number Redis does not have, takes no job from database 0, says why and stops', async () => {
    const [job] = await producer.enqueue('verify', [sampleDb(dir, 'elsewhere')]);
    const url = new URL(redis.url);
    url.pathname = '/9999';
    const { lines } = startWorker({ redisUrl: url.href });
    const refusal = await waitFor(
      async () => lines.find((line) => line.level === 50),
      'the worker to log the refusal',
    );
    expect(refusal.msg).toMatch(
      /refused the connection's setup \(ERR DB index is out of range\).*The worker stops\.$/,
    );
    expect(await queue.getJobState(job?.jobId as string)).toBe('waiting'); // still there, in database 0
  });

  it('runs one job at a time', async () => {
    const dbs = ['a', 'b', 'c', 'd'].map((name) => sampleDb(dir, name));
    const jobs = await producer.enqueue('up', dbs);
    const { worker } = startWorker();
    expect(worker.worker.opts.concurrency).toBe(1);
    let active = 0;
    let mostActive = 0;
    worker.worker.on('active', () => {
      active += 1;
      mostActive = Math.max(mostActive, active);
    });
    worker.worker.on('completed', () => {
      active -= 1;
    });
    await producer.waitForJobs(jobs);
    const spans = (await Promise.all(jobs.map((job) => queue.getJob(job.jobId))))
      .map((job) => ({ from: job?.processedOn as number, to: job?.finishedOn as number }))
      .sort((a, b) => a.from - b.from);
    for (let index = 1; index < spans.length; index++) {
      expect(spans[index]?.from).toBeGreaterThanOrEqual(spans[index - 1]?.to as number);
    }
    expect(mostActive).toBe(1);
  });

  it('fails bad data, unknown names and unknown migrations once, naming the problem', async () => {
    const dbPath = sampleDb(dir, 'bad');
    const before = sha256(dbPath);
    const options = { attempts: 5, backoff: { type: 'exponential', delay: 100 } };
    const cases: [string, unknown, RegExp][] = [
      ['migrate-up', { dbPath: 42 }, /dbPath/],
      ['migrate-up', { dbPath, dryRun: 'yes' }, /dryRun/],
      ['migrate-up', { dbpath: dbPath }, /dbpath/],
      ['migrate-up', { dbPath, migration: '6' }, /migration/],
      ['migrate-up', { dbPath, migration: '999' }, /UNKNOWN_MIGRATION/],
      ['migrate-sideways', { dbPath }, /Unknown job name "migrate-sideways"/],
    ];
    const added = [];
    for (const [name, data] of cases) added.push(await queue.add(name, data, options));
    startWorker();
    for (const [index, job] of added.entries()) {
      const done = await finished(job.id as string);
      expect(await done?.getState()).toBe('failed');
      expect(done?.attemptsMade).toBe(1);
      expect(done?.failedReason).toMatch(cases[index]?.[2] as RegExp);
    }
    expect(sha256(dbPath)).toBe(before);
  });

  it('fails a job at once, with FILE_LOCK_BLOCKED, when a file is in the way of <db>.lock', async () => {
    const dbPath = sampleDb(dir, 'blocked');
    const before = sha256(dbPath);
    fs.writeFileSync(`${dbPath}.lock`, 'left by someone');
    startWorker();
    const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath]));
    expect(outcome?.state).toBe('failed');
    expect(outcome?.attemptsMade).toBe(1);
    expect(outcome?.failedReason).toMatch(
      /^FILE_LOCK_BLOCKED: .*documents\.db\.lock is in the way of the file lock/,
    );
    expect(sha256(dbPath)).toBe(before);
    expect(fs.readdirSync(path.dirname(dbPath)).sort()).toEqual(['documents.db', 'documents.db.lock']);
  });

  it('refuses paths outside the roots and symlink escapes without touching them', async () => {
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    const outside = tempDir('gao-migrate-outside-');
    cleanups.push(async () => fs.rmSync(outside, { recursive: true, force: true }));
    const target = sampleDb(outside, 'victim');
    const before = sha256(target);
    fs.symlinkSync(target, path.join(root, 'link.db'));
    fs.symlinkSync(outside, path.join(root, 'linked-dir'));
    const attempts = [
      target,
      path.join(root, 'link.db'),
      path.join(root, 'linked-dir', 'victim', '.gao-dev', 'documents.db'),
      `${root}${path.sep}..${path.sep}..${path.sep}${path.relative(path.dirname(dir), target)}`,
    ];
    startWorker({ roots: [root] });
    const jobs = await producer.enqueue('up', attempts);
    const outcomes = await producer.waitForJobs(jobs);
    for (const outcome of outcomes) {
      expect(outcome.state).toBe('failed');
      expect(outcome.attemptsMade).toBe(1);
      expect(outcome.failedReason).toMatch(/outside the allowed roots/);
    }
    expect(sha256(target)).toBe(before);
    expect(fs.readdirSync(path.dirname(target)).sort()).toEqual(['documents.db']);
  });

  it('runs jobs on one database in queue order: a down queued after an up waits while a worker has the up', async () => {
    const dbPath = sampleDb(dir, 'ordered');
    const before = sha256(dbPath);
    const [up] = await producer.enqueue('up', [dbPath], { attempts: 1 });
    const [down] = await producer.enqueue('down', [dbPath], { attempts: 1 });
    // Another worker has taken the up and not yet reached <db>.lock (a BullMQ worker fetching by hand).
    const { job: taken } = await takeNextJobByHand();
    expect(taken?.id).toBe(up?.jobId);

    startWorker({ fileLock: { timeoutMs: 500 } });
    const done = await finished(down?.jobId as string);
    expect(await done?.getState()).toBe('failed');
    expect(done?.failedReason).toBe(
      `FILE_LOCK_HELD: Job ${up?.jobId} on ${dbPath}, queued before this one, has not finished yet (waited 500 ms); nothing was changed.`,
    );
    expect(sha256(dbPath)).toBe(before);
    expect(fs.readdirSync(path.dirname(dbPath)).sort()).toEqual(['documents.db']);
  });

  it('runs a down queued after an up once the up is done: it waits without holding <db>.lock, then rolls the up back', async () => {
    const dbPath = sampleDb(dir, 'let-go');
    const [up] = await producer.enqueue('up', [dbPath], { attempts: 1 });
    const [down] = await producer.enqueue('down', [dbPath], { attempts: 1 });
    // Another worker has taken the up and not yet reached <db>.lock; ours takes the down.
    const { job: taken, token } = await takeNextJobByHand();
    expect(taken?.id).toBe(up?.jobId);
    startWorker({ fileLock: { timeoutMs: 60_000 } });
    await waitFor(
      async () => ((await queue.getJobState(down?.jobId as string)) === 'active' ? true : undefined),
      'the down to be taken',
    );

    // The up's worker reaches <db>.lock while the down waits for the up: it gets the lock, and runs the up.
    const lock = await acquireFileLock(dbPath, { timeoutMs: 10_000 });
    const result = new Migrator().up({ dbPath });
    await lock.release();
    expect(result.status).toBe('applied');
    await taken?.moveToCompleted(result, token);

    const done = await finished(down?.jobId as string);
    expect((done?.returnvalue as MigrationJobResult | undefined)?.status).toBe('rolled-back');
    expect(tablesOf(dbPath)).not.toContain('learning_applications');
  });

  it('keeps jobs on one database in queue order after Redis forgot its scripts (restarted, or SCRIPT FLUSH)', async () => {
    startWorker({ fileLock: { timeoutMs: 500 } });
    const [first] = await producer.enqueue('verify', [sampleDb(dir, 'first')]);
    // The worker has looked at the queue once: its job-order script is loaded, then forgotten.
    await finished(first?.jobId as string);
    await workers[0]?.worker.pause();
    await ((await queue.client) as unknown as Redis).script('FLUSH');

    const dbPath = sampleDb(dir, 'ordered-after-flush');
    const before = sha256(dbPath);
    const [up] = await producer.enqueue('up', [dbPath], { attempts: 1 });
    const [down] = await producer.enqueue('down', [dbPath], { attempts: 1 });
    expect((await takeNextJobByHand()).job?.id).toBe(up?.jobId);
    workers[0]?.worker.resume();
    const done = await finished(down?.jobId as string);
    expect(done?.failedReason).toMatch(new RegExp(`^FILE_LOCK_HELD: Job ${up?.jobId} on `));
    expect(sha256(dbPath)).toBe(before);
  });

  it('does not let a down overtake an up queued before it that BullMQ put back in the queue (its worker died)', async () => {
    const dbPath = sampleDb(dir, 'put-back');
    const before = sha256(dbPath);
    const [up] = await producer.enqueue('up', [dbPath], { attempts: 1 });
    const [down] = await producer.enqueue('down', [dbPath], { attempts: 1 });
    const { job: taken, token } = await takeNextJobByHand();
    expect(taken?.id).toBe(up?.jobId);

    startWorker({ fileLock: { timeoutMs: 3_000 } });
    await waitFor(
      async () => (await queue.getJobState(down?.jobId as string)) === 'active',
      'the down taken',
    );
    // As BullMQ does with a job whose worker stopped renewing its lock: back to the wait list.
    await taken?.moveToWait(token);
    // The down steps aside (delayed, no attempt counted) rather than hold the worker the up needs; the up runs first.
    const upDone = await finished(up?.jobId as string);
    expect((upDone?.returnvalue as MigrationJobResult | undefined)?.status).toBe('applied');
    const done = await finished(down?.jobId as string);
    expect(await done?.getState()).toBe('completed');
    expect((done?.returnvalue as MigrationJobResult | undefined)?.status).toBe('rolled-back');
    expect(done?.attemptsMade).toBe(1);
    expect(done?.processedOn).toBeGreaterThan(upDone?.finishedOn as number);
    expect(sha256(dbPath)).not.toBe(before);
    expect(tablesOf(dbPath)).not.toContain('learning_applications');
    expect((await queue.getJobLogs(down?.jobId as string)).logs.join('\n')).toContain(
      `Job ${up?.jobId} on ${dbPath}, queued before this one, has not run yet (it waits for a worker); this job runs after it`,
    );
  });

  it('does not let a down overtake an up queued before it that waits for a retry (in backoff): the database ends as last asked', async () => {
    const dbPath = sampleDb(dir, 'in-backoff');
    const holder = await holdSqliteLock(dbPath);
    cleanups.push(() => holder.release());
    startWorker({ busyTimeoutMs: 50 });
    const [up] = await producer.enqueue('up', [dbPath]);
    const upId = up?.jobId as string;
    // The up failed its first attempt (an application held the database) and waits for its retry.
    await waitFor(async () => (await queue.getJobState(upId)) === 'delayed', 'the up in backoff');
    await holder.release();
    const [down] = await producer.enqueue('down', [dbPath]);
    const downDone = await finished(down?.jobId as string);
    const upDone = await finished(upId);
    expect(await upDone?.getState()).toBe('completed');
    expect((upDone?.returnvalue as MigrationJobResult | undefined)?.status).toBe('applied');
    expect(await downDone?.getState()).toBe('completed');
    expect((downDone?.returnvalue as MigrationJobResult | undefined)?.status).toBe('rolled-back');
    expect(downDone?.processedOn).toBeGreaterThan(upDone?.finishedOn as number);
    expect(downDone?.attemptsMade).toBe(1);
    expect(tablesOf(dbPath)).not.toContain('learning_applications');
    expect((await queue.getJobLogs(down?.jobId as string)).logs.join('\n')).toContain(
      `Job ${upId} on ${dbPath}, queued before this one, has not run yet (it is delayed, for a retry or for a job before it)`,
    );
  });

  it('follows only changes queued before a job: two jobs added by hand that name each other both run, in queue order', async () => {
    const dbPath = sampleDb(dir, 'crossed');
    // Another service adds jobs with BullMQ directly, each naming the other as the change it follows: without a
    // bound, each would step aside for the other for ever.
    // BullMQ numbers a new queue's jobs 1, 2, ...: the first names the second before it exists.
    const first = await queue.add(
      'migrate-up',
      { dbPath },
      { attempts: 1, deduplication: { id: 'mine-1|after:2' } },
    );
    const second = await queue.add(
      'migrate-down',
      { dbPath },
      { attempts: 1, deduplication: { id: 'mine-2|after:1' } },
    );
    expect([first.id, second.id]).toEqual(['1', '2']);
    startWorker();
    const upDone = await finished(first.id as string);
    const downDone = await finished(second.id as string);
    expect((upDone?.returnvalue as MigrationJobResult | undefined)?.status).toBe('applied');
    expect((downDone?.returnvalue as MigrationJobResult | undefined)?.status).toBe('rolled-back');
    expect(downDone?.processedOn).toBeGreaterThanOrEqual(upDone?.finishedOn as number);
    // The first names a job queued after it: not followed, so it never stepped aside.
    expect((await queue.getJobLogs(first.id as string)).logs.join('\n')).not.toContain(' wait ');
  });

  it('survives a progress write that Redis refuses mid-job (Redis restarted empty): logged, never unhandled', async () => {
    const [queued] = await producer.enqueue('up', [sampleDb(dir, 'gone')]);
    const job = await queue.getJob(queued?.jobId as string);
    if (!job) throw new Error('the job was not queued');
    // What a Redis restarted without its data leaves: the job's key is gone, so BullMQ rejects every write to it.
    await queue.obliterate({ force: true });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(async () => {
      process.removeListener('unhandledRejection', onUnhandled);
    });
    const { logger, lines } = captureLogger();
    const progress = new ProgressReporter(job, logger, () => 1);
    // Past the interval, so that the step is written at once, as during a long migration.
    await new Promise((resolve) => setTimeout(resolve, PROGRESS_WRITE_INTERVAL_MS + 50));
    progress.step('migrate');
    // Replies come in order on the connection: once this one is in, the write's refusal has been seen too.
    await ((await queue.client) as unknown as Redis).ping();
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    await progress.flush();
    expect(lines.some((line) => line.msg === 'could not record job progress in Redis')).toBe(true);
  });

  it('retries a database another process holds locked, then succeeds', async () => {
    const dbPath = sampleDb(dir, 'busy');
    const holder = await holdSqliteLock(dbPath);
    cleanups.push(() => holder.release());
    const { lines } = startWorker({ busyTimeoutMs: 50 });
    const [job] = await producer.enqueue('up', [dbPath]);
    const jobId = job?.jobId as string;
    await waitFor(
      async () => ((await queue.getJob(jobId))?.attemptsMade ?? 0) >= 1,
      'a failed first attempt',
    );
    expect(await queue.getJobState(jobId)).not.toBe('failed');
    await holder.release();
    const done = await finished(jobId);
    expect(await done?.getState()).toBe('completed');
    expect(done?.attemptsMade).toBeGreaterThanOrEqual(2);
    expect((done?.returnvalue as MigrationJobResult | undefined)?.status).toBe('applied');
    expect(lines.some((line) => line.step === 'retry' && String(line.msg).startsWith('DB_LOCKED'))).toBe(
      true,
    );
  });

  it('retries jobs added without attempts by another service, with the worker default', async () => {
    const dbPath = sampleDb(dir, 'busy-direct');
    const holder = await holdSqliteLock(dbPath);
    cleanups.push(() => holder.release());
    startWorker({ busyTimeoutMs: 50 });
    const added = await queue.add('migrate-up', { dbPath });
    await waitFor(
      async () =>
        ((await queue.getJob(added.id as string))?.attemptsStarted ?? 0) >= 1 &&
        (await queue.getJobState(added.id as string)) === 'delayed',
      'the job to be delayed for a retry',
    );
    await holder.release();
    const done = await finished(added.id as string);
    expect(await done?.getState()).toBe('completed');
    expect(done?.attemptsStarted).toBeGreaterThanOrEqual(2);
  });

  it('keeps the job lock while the engine is blocked: the event loop stays free and nothing stalls', async () => {
    const dbPath = sampleDb(dir, 'long');
    const holder = await holdSqliteLock(dbPath);
    cleanups.push(() => holder.release());
    // A one-second job lock: a worker whose event loop was blocked for two seconds would lose it and stall.
    const { worker } = startWorker({
      busyTimeoutMs: 120_000,
      lockDuration: 1_000,
      stalledInterval: 500,
      maxStalledCount: 0,
    });
    let stalled = 0;
    worker.worker.on('stalled', () => {
      stalled += 1;
    });
    const [job] = await producer.enqueue('up', [dbPath]);
    const jobId = job?.jobId as string;
    await waitFor(
      async () =>
        ((await queue.getJob(jobId))?.progress as { step?: string } | undefined)?.step === 'preconditions',
      'the engine to start',
    );
    // The engine thread now sits in SQLite's busy handler; count ticks of this (the worker's) event loop.
    let ticks = 0;
    const timer = setInterval(() => {
      ticks += 1;
    }, 50);
    try {
      await waitFor(() => ticks >= 50, 'fifty event-loop ticks', { timeoutMs: 60_000 });
    } finally {
      clearInterval(timer);
    }
    expect(await queue.getJobState(jobId)).toBe('active');
    // BullMQ renews `<prefix>:<queue>:<id>:lock` every lockDuration/2; it would have expired after 1 s.
    const client = (await queue.client) as unknown as Redis;
    expect(await client.pttl(`bull:${queueName}:${jobId}:lock`)).toBeGreaterThan(0);
    await holder.release();
    const done = await finished(jobId);
    expect(await done?.getState()).toBe('completed');
    expect(done?.attemptsMade).toBeLessThanOrEqual(1);
    expect(stalled).toBe(0);
    const result = done?.returnvalue as MigrationJobResult | undefined;
    expect(result?.status).toBe('applied');
  });
});

describe('createMigrationWorker without a logger', () => {
  const DEFAULT_LOGGER_JOB = fileURLToPath(new URL('./fixtures/default-logger-job.mjs', import.meta.url));

  it('runs its job to the end when its log on stderr cannot be written (2> log on a full disk)', () => {
    const dbPath = sampleDb(dir, 'unwritable-log');
    // stderr is a descriptor open for reading only: every write of the default logger fails (EBADF).
    const unwritable = fs.openSync(dbPath, 'r');
    try {
      const run = spawnSync(process.execPath, [DEFAULT_LOGGER_JOB, redis.url, queueName, dbPath], {
        stdio: ['ignore', 'pipe', unwritable],
        env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'info' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.status).toBe(0);
      expect(run.stdout).toBe('{"status":"applied"}\n');
    } finally {
      fs.closeSync(unwritable);
    }
    expect(new Migrator().verify({ dbPath }).status).toBe('verified');
  });
  describe('reading GAO_MIGRATE_LOG_LEVEL', () => {
    const before = process.env.GAO_MIGRATE_LOG_LEVEL;
    afterEach(() => {
      if (before === undefined) delete process.env.GAO_MIGRATE_LOG_LEVEL;
      else process.env.GAO_MIGRATE_LOG_LEVEL = before;
    });

    it('refuses a level pino does not know in one sentence with a stable code, before it starts anything', () => {
      process.env.GAO_MIGRATE_LOG_LEVEL = 'verbose';
      let thrown: unknown;
      try {
        workers.push(createMigrationWorker({ redisUrl: redis.url, queueName, roots: [dir], autorun: false }));
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidLogLevelError);
      expect(thrown).toMatchObject({
        code: 'INVALID_INPUT',
        message:
          'GAO_MIGRATE_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, not "verbose".',
      });
    });

    it('reads a blank level as the default and a padded one as the level, as the CLI does', async () => {
      for (const level of ['', '  ', ' warn ']) {
        process.env.GAO_MIGRATE_LOG_LEVEL = level;
        const worker = createMigrationWorker({
          redisUrl: redis.url,
          queueName,
          roots: [dir],
          autorun: false,
        });
        await worker.close();
      }
    });
  });
});
