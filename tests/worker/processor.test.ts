import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../src/producer/producer.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { acquireFileLock, lockPathOf } from '../../src/worker/file-lock.js';
import {
  createMigrationWorker,
  type MigrationWorker,
  type MigrationWorkerOptions,
} from '../../src/worker/migration-worker.js';
import { makeFrozenProject } from '../fleet/helpers.js';
import { redisForFile } from '../helpers/redis.js';
import { captureLogger, sampleDb, sha256, tempDir, waitFor } from '../queue/helpers.js';

/** How the processor fails jobs around `<db>.lock`: every failedReason starts with its code. */

const redis = redisForFile();
let queueName: string;
let dir: string;
let queue: Queue;
let producer: Producer;
const workers: MigrationWorker[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

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
  const { logger } = captureLogger();
  const worker = createMigrationWorker({ redisUrl: redis.url, queueName, roots: [dir], logger, ...options });
  workers.push(worker);
  return worker;
}

async function runOnce(dbPath: string) {
  const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath], { attempts: 1 }));
  return outcome;
}

describe('migration processor, retried jobs', () => {
  /** Every backup beside the database, sorted. */
  function backupsBeside(dbPath: string): string[] {
    const folder = path.dirname(dbPath);
    return fs
      .readdirSync(folder)
      .filter((name) => /\.backup_\d{8}T\d{9}Z\.db$/.test(name))
      .map((name) => path.join(folder, name))
      .sort();
  }

  /**
   * A reader's open transaction on a rollback-journal database: up writes and keeps its backup, runs its statements,
   * then cannot take the exclusive lock its COMMIT needs (DB_LOCKED, retryable, the backup kept).
   */
  function holdReadLock(dbPath: string): Database.Database {
    const reader = new Database(dbPath);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM learning_index').get();
    return reader;
  }

  it("names the backup an earlier attempt kept in a failed job's result, beside the last attempt's", async () => {
    const dbPath = sampleDb(dir, 'busy');
    const reader = holdReadLock(dbPath);
    try {
      startWorker({ busyTimeoutMs: 20 });
      const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath], { attempts: 2 }));
      expect(outcome?.state).toBe('failed');
      expect(outcome?.failedReason).toMatch(/^DB_LOCKED: /);
      // The last reason says the job was retried, and that no retry is left.
      expect(outcome?.failedReason).toMatch(
        /\. That was attempt 2 of 2, \d+ s after the job was queued: no retry is left\.$/,
      );
      const result = outcome?.result;
      expect(result?.earlierBackups).toHaveLength(1);
      expect(result?.backupPath).toEqual(expect.any(String));
      expect(result?.earlierBackups).not.toContain(result?.backupPath);
      // Every backup on disk is reported, none twice.
      expect([...(result?.earlierBackups ?? []), result?.backupPath].sort()).toEqual(backupsBeside(dbPath));
    } finally {
      reader.close();
    }
  });

  it('names the backups earlier attempts kept once a retry succeeds', async () => {
    const dbPath = sampleDb(dir, 'busy-then-free');
    const reader = holdReadLock(dbPath);
    let jobs: Awaited<ReturnType<Producer['enqueue']>>;
    try {
      startWorker({ busyTimeoutMs: 20 });
      jobs = await producer.enqueue('up', [dbPath], { attempts: 10 });
      const jobId = jobs[0]?.jobId as string;
      await waitFor(async () => ((await queue.getJob(jobId))?.attemptsMade ?? 0) >= 1, 'a failed attempt');
    } finally {
      reader.close();
    }
    const [outcome] = await producer.waitForJobs(jobs);
    expect(outcome?.state).toBe('completed');
    const result = outcome?.result;
    expect(result?.status).toBe('applied');
    // One attempt at least failed after its backup (more if a retry came before the reader let go).
    expect(result?.earlierBackups.length).toBeGreaterThanOrEqual(1);
    expect([...(result?.earlierBackups ?? []), result?.backupPath].sort()).toEqual(backupsBeside(dbPath));
  });

  it('reports no earlier backups for a job that succeeded at once', async () => {
    const dbPath = sampleDb(dir, 'plain');
    startWorker();
    const outcome = await runOnce(dbPath);
    expect(outcome?.result).toMatchObject({ status: 'applied', earlierBackups: [] });
  });
});

describe('migration processor, failed jobs', () => {
  it('keeps the engine result of a failed job, with the backup it made, where the producer reads it', async () => {
    const dbPath = makeFrozenProject(dir, 'frozen');
    startWorker();
    const outcome = await runOnce(dbPath);
    expect(outcome?.state).toBe('failed');
    expect(outcome?.failedReason).toMatch(/^MIGRATION_FAILED: .*schema_version is frozen/);
    expect(outcome?.result).toMatchObject({
      ok: false,
      status: 'failed',
      error: { code: 'MIGRATION_FAILED' },
    });
    const backupPath = outcome?.result?.backupPath as string;
    expect(path.basename(backupPath)).toMatch(/^documents\.backup_.+\.db$/);
    expect(fs.existsSync(backupPath)).toBe(true);
    expect(outcome?.failedReason).toContain(backupPath);
  });

  it('does not report the backup of an earlier attempt for a retry that failed before the engine ran', async () => {
    const dbPath = makeFrozenProject(dir, 'frozen');
    startWorker();
    const [enqueued] = await producer.enqueue('up', [dbPath], { attempts: 1 });
    const [first] = await producer.waitForJobs([enqueued as NonNullable<typeof enqueued>]);
    expect(first?.result?.backupPath).toEqual(expect.any(String));
    fs.rmSync(dbPath);
    await (await queue.getJob(first?.jobId as string))?.retry('failed');
    await waitFor(
      async () =>
        (await queue.getJob(first?.jobId as string))?.failedReason?.startsWith('DB_NOT_FOUND') === true,
      'the retry to fail with DB_NOT_FOUND',
    );
    const [second] = await producer.outcomes([enqueued as NonNullable<typeof enqueued>]);
    expect(second?.state).toBe('failed');
    expect(second?.result ?? null).toBeNull();
  });
});

describe('migration processor and <db>.lock', () => {
  it('refuses a database whose path was swapped for a symlink out of the roots while it waited for the lock', async () => {
    const root = path.join(dir, 'root');
    const dbPath = sampleDb(root, 'project');
    const outside = tempDir('gao-migrate-outside-');
    cleanups.push(() => fs.rmSync(outside, { recursive: true, force: true }));
    const victim = sampleDb(outside, 'victim');
    const victimBefore = sha256(victim);
    const ownBefore = sha256(dbPath);
    const held = await acquireFileLock(dbPath);
    cleanups.push(() => held.release());
    startWorker({ roots: [root] });
    const [job] = await producer.enqueue('up', [dbPath], { attempts: 1 });
    const jobId = job?.jobId as string;
    await waitFor(
      async () => ((await queue.getJob(jobId))?.progress as { step?: string } | undefined)?.step === 'lock',
      'the job to wait for the file lock',
    );
    // The project's .gao-dev becomes a symlink to a directory outside the roots, then the lock is let go.
    const gaoDev = path.dirname(dbPath);
    fs.renameSync(gaoDev, `${gaoDev}-moved`);
    fs.symlinkSync(path.dirname(victim), gaoDev);
    await held.release();

    const [outcome] = await producer.waitForJobs([job as NonNullable<typeof job>]);
    expect(outcome?.state).toBe('failed');
    expect(outcome?.attemptsMade).toBe(1);
    expect(outcome?.failedReason).toMatch(
      /^PATH_NOT_ALLOWED: .*outside the allowed roots.*changed while the job waited for its file lock, and nothing was changed\.$/,
    );
    expect(sha256(victim)).toBe(victimBefore);
    expect(fs.readdirSync(path.dirname(victim))).toEqual(['documents.db']);
    expect(sha256(path.join(`${gaoDev}-moved`, 'documents.db'))).toBe(ownBefore);
  });

  it('fails with FILE_LOCK_HELD first in its reason, saying nothing was changed, when the lock stays held', async () => {
    const dbPath = sampleDb(dir, 'held');
    const before = sha256(dbPath);
    const held = await acquireFileLock(dbPath);
    cleanups.push(() => held.release());
    startWorker({ fileLock: { timeoutMs: 100 } });
    const outcome = await runOnce(dbPath);
    expect(outcome?.state).toBe('failed');
    expect(outcome?.failedReason).toBe(
      `FILE_LOCK_HELD: The file lock ${lockPathOf(dbPath)} is held by another worker (waited 100 ms); nothing was changed.`,
    );
    expect(sha256(dbPath)).toBe(before);
  });

  it('fails at once, not retried, when an abandoned <db>.lock has files in it', async () => {
    const dbPath = sampleDb(dir, 'littered');
    const before = sha256(dbPath);
    fs.mkdirSync(lockPathOf(dbPath));
    fs.writeFileSync(path.join(lockPathOf(dbPath), 'note.txt'), 'left here');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockPathOf(dbPath), old, old);
    startWorker({ fileLock: { staleMs: 2_000 } });
    const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath]));
    expect(outcome?.state).toBe('failed');
    expect(outcome?.attemptsMade).toBe(1);
    expect(outcome?.failedReason).toBe(
      `FILE_LOCK_BLOCKED: ${lockPathOf(dbPath)} is an abandoned file lock with files in it, which a worker's lock never has, so no worker will remove it. Look inside and remove it if no other program uses it; nothing was changed.`,
    );
    expect(sha256(dbPath)).toBe(before);
  });

  it('fails at once, not retried, saying what it is, for a job on a named pipe or a directory, which it never opens', async () => {
    const fifo = path.join(dir, 'pipe.db');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const folder = path.join(dir, 'folder.db');
    fs.mkdirSync(folder);
    const listing = fs.readdirSync(dir).sort();
    startWorker();
    const outcomes = await producer.waitForJobs(await producer.enqueue('up', [fifo, folder]));
    expect(outcomes.map((outcome) => [outcome.state, outcome.attemptsMade, outcome.failedReason])).toEqual([
      [
        'failed',
        1,
        `NOT_A_DATABASE: ${fifo} is a pipe (FIFO), not a regular file, so it cannot be a SQLite database: give the path of the database file.`,
      ],
      ['failed', 1, `DB_IS_DIRECTORY: ${folder} is a directory, not a SQLite database file.`],
    ]);
    expect(fs.readdirSync(dir).sort()).toEqual(listing);
  });

  it('fails at once, not retried, with DB_MULTIPLE_LINKS for a database with another hard link', async () => {
    const dbPath = sampleDb(dir, 'linked');
    fs.linkSync(dbPath, path.join(path.dirname(dbPath), 'also.db'));
    const before = sha256(dbPath);
    startWorker();
    const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath]));
    expect(outcome?.state).toBe('failed');
    expect(outcome?.attemptsMade).toBe(1);
    expect(outcome?.failedReason).toMatch(/^DB_MULTIPLE_LINKS: .+documents\.db has 2 hard links /);
    expect(sha256(dbPath)).toBe(before);
  });

  it('fails at once, not retried, with DB_IS_BACKUP for a backup queued beside its database (a glob such as .gao-dev/*.db)', async () => {
    const dbPath = sampleDb(dir, 'globbed');
    startWorker();
    expect((await runOnce(dbPath))?.state).toBe('completed');
    const folder = path.dirname(dbPath);
    const [backup] = fs.readdirSync(folder).filter((name) => name.includes('.backup_'));
    const backupPath = path.join(folder, backup as string);
    const listing = fs.readdirSync(folder).sort();
    const before = sha256(backupPath);
    // What a service queuing the matches of '<dir>/*/.gao-dev/*.db' itself (the producer API, or jobs added straight
    // to Redis) adds a second time: the database and its backup. `enqueue` and `fleet` leave such backups out.
    const outcomes = await producer.waitForJobs(await producer.enqueue('up', [dbPath, backupPath]));
    expect(outcomes.map((outcome) => [outcome?.state, outcome?.result?.status])).toEqual([
      ['completed', 'already-applied'],
      ['failed', 'failed'],
    ]);
    expect(outcomes[1]?.result?.backupPath).toBeNull();
    expect(outcomes[1]?.attemptsMade).toBe(1);
    expect(outcomes[1]?.failedReason).toMatch(
      /^DB_IS_BACKUP: .+\.backup_\d{8}T\d{9}Z\.db is a backup gao-migrate made, .+; nothing was changed\.$/,
    );
    expect(sha256(backupPath)).toBe(before);
    expect(fs.readdirSync(folder).sort()).toEqual(listing);
  });

  it('answers a no-op up or down on a database with another hard link as anywhere: nothing to change, nothing written', async () => {
    const applied = sampleDb(dir, 'linked-applied');
    const pending = sampleDb(dir, 'linked-pending');
    startWorker();
    expect((await runOnce(applied))?.state).toBe('completed');
    for (const name of fs.readdirSync(path.dirname(applied)).filter((file) => file.includes('.backup_')))
      fs.rmSync(path.join(path.dirname(applied), name));
    for (const dbPath of [applied, pending]) fs.linkSync(dbPath, path.join(path.dirname(dbPath), 'also.db'));
    const before = [sha256(applied), sha256(pending)];
    const outcomes = [
      ...(await producer.waitForJobs(await producer.enqueue('up', [applied], { attempts: 1 }))),
      ...(await producer.waitForJobs(await producer.enqueue('down', [pending], { attempts: 1 }))),
    ];
    expect(outcomes.map((outcome) => [outcome?.state, outcome?.result?.status])).toEqual([
      ['completed', 'already-applied'],
      ['completed', 'not-applied'],
    ]);
    expect([sha256(applied), sha256(pending)]).toEqual(before);
    for (const dbPath of [applied, pending])
      expect(fs.readdirSync(path.dirname(dbPath)).sort()).toEqual(['also.db', 'documents.db']);
  });

  it('answers verify and a no-op up in a directory it cannot write (chattr +i), where no <db>.lock can be made, and refuses a change', async () => {
    const applied = sampleDb(dir, 'applied');
    const pending = sampleDb(dir, 'pending');
    startWorker();
    expect((await runOnce(applied))?.state).toBe('completed');
    for (const name of fs.readdirSync(path.dirname(applied)).filter((file) => file.includes('.backup_')))
      fs.rmSync(path.join(path.dirname(applied), name));
    const before = [sha256(applied), sha256(pending)];
    const frozen = [path.dirname(applied), path.dirname(pending)];
    for (const directory of frozen) {
      expect(spawnSync('chattr', ['+i', directory]).status, `chattr +i ${directory}`).toBe(0);
      cleanups.push(() => void spawnSync('chattr', ['-i', directory]));
    }

    const [verified, noOp, refused] = await producer.waitForJobs([
      ...(await producer.enqueue('verify', [applied])),
      ...(await producer.enqueue('up', [applied], { attempts: 1 })),
      ...(await producer.enqueue('up', [pending], { attempts: 1 })),
    ]);

    expect(verified).toMatchObject({ state: 'completed', result: { status: 'verified' } });
    expect(noOp).toMatchObject({ state: 'completed', result: { status: 'already-applied' } });
    expect(refused?.state).toBe('failed');
    expect(refused?.attemptsMade).toBe(1);
    expect(refused?.failedReason).toMatch(/^DB_READONLY: The directory of .+ is read-only/);
    expect([sha256(applied), sha256(pending)]).toEqual(before);
    expect(fs.readdirSync(path.dirname(pending))).toEqual(['documents.db']);
  });

  it('fails at once, not retried, when the name of <db>.lock is too long for the file system', async () => {
    const dbPath = path.join(path.dirname(sampleDb(dir, 'long')), `${'n'.repeat(250)}.db`);
    fs.renameSync(path.join(path.dirname(dbPath), 'documents.db'), dbPath);
    const before = sha256(dbPath);
    startWorker();
    const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath]));
    expect(outcome?.state).toBe('failed');
    expect(outcome?.attemptsMade).toBe(1);
    expect(outcome?.failedReason).toMatch(
      /^INVALID_INPUT: The file lock .+ cannot be created: its name is longer than the file system allows \(ENAMETOOLONG\); give the database a shorter name\. Nothing was changed\.$/,
    );
    expect(sha256(dbPath)).toBe(before);
  });
});
