import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../src/producer/producer.js';
import {
  createThreadEngineRunner,
  type EngineRunner,
  EngineThreadError,
} from '../../src/worker/engine-runner.js';
import { lockPathOf } from '../../src/worker/file-lock.js';
import { createMigrationWorker, type MigrationWorker } from '../../src/worker/migration-worker.js';
import { redisForFile } from '../helpers/redis.js';
import { captureLogger, sampleDb, sha256, tempDir } from '../queue/helpers.js';

/**
 * A job whose engine thread dies mid-run (a crash, out of memory): the worker reports ENGINE_THREAD_FAILED,
 * retries it, and the database is either untouched or migrated by the retry. The real engine runs every attempt
 * but the first, which dies the way `createThreadEngineRunner` reports a thread that exited.
 */

const redis = redisForFile();
let dir: string;
let queueName: string;
let producer: Producer;
let worker: MigrationWorker | undefined;

beforeEach(async () => {
  dir = tempDir();
  queueName = `test-${randomUUID()}`;
  producer = await createProducer({ redisUrl: redis.url, queueName });
});
afterEach(async () => {
  await worker?.close();
  worker = undefined;
  await producer.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The real thread runner, except that its first `deaths` runs end as a thread that exited would end them. */
function engineThatDies(deaths: number): EngineRunner & { runs: number } {
  const real = createThreadEngineRunner({ busyTimeoutMs: 5_000 });
  const engine = {
    runs: 0,
    run: (...args: Parameters<EngineRunner['run']>) => {
      engine.runs += 1;
      if (engine.runs <= deaths) {
        return Promise.reject(new EngineThreadError('The engine thread exited with code 1.'));
      }
      return real.run(...args);
    },
    close: () => real.close(),
  };
  return engine;
}

describe('a job whose engine thread dies', () => {
  it('fails with ENGINE_THREAD_FAILED first in its reason, releases <db>.lock and changes nothing', async () => {
    const dbPath = sampleDb(dir, 'a');
    const before = sha256(dbPath);
    const { logger } = captureLogger();
    worker = createMigrationWorker({
      redisUrl: redis.url,
      queueName,
      roots: [dir],
      logger,
      engine: engineThatDies(1),
    });
    const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath], { attempts: 1 }));
    expect(outcome?.state).toBe('failed');
    expect(outcome?.failedReason).toBe(
      'ENGINE_THREAD_FAILED: The engine thread exited with code 1. SQLite rolls back what the run left unfinished.',
    );
    expect(fs.existsSync(lockPathOf(dbPath))).toBe(false);
    expect(sha256(dbPath)).toBe(before);
    expect(fs.readdirSync(`${dir}/a/.gao-dev`)).toEqual(['documents.db']);
  });

  it('is retried, and the retry applies the migration', async () => {
    const dbPath = sampleDb(dir, 'b');
    const engine = engineThatDies(1);
    const { logger, lines } = captureLogger();
    worker = createMigrationWorker({ redisUrl: redis.url, queueName, roots: [dir], logger, engine });
    const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath], { attempts: 2 }));
    expect(outcome?.state).toBe('completed');
    expect(outcome?.attemptsMade).toBe(2);
    expect(outcome?.result).toMatchObject({ ok: true, status: 'applied' });
    expect(engine.runs).toBe(2);
    expect(lines.some((line) => String(line.msg).startsWith('ENGINE_THREAD_FAILED: '))).toBe(true);
  });

  it('names the backup the dead attempt had written among the earlier backups of the retry that succeeds', async () => {
    const dbPath = sampleDb(dir, 'c');
    const real = createThreadEngineRunner({ busyTimeoutMs: 5_000 });
    // The first attempt reports its backup written and checked, then its thread exits, leaving no result.
    const leftBehind = `${dir}/c/.gao-dev/documents.backup_20261124T101500123Z.db`;
    let runs = 0;
    const engine: EngineRunner = {
      run: (op, input, onProgress) => {
        runs += 1;
        if (runs > 1) return real.run(op, input, onProgress);
        fs.copyFileSync(dbPath, leftBehind);
        onProgress?.({
          type: 'backup',
          path: leftBehind,
          bytes: fs.statSync(leftBehind).size,
          method: 'copy',
        });
        return Promise.reject(new EngineThreadError('The engine thread exited with code 1.'));
      },
      close: () => real.close(),
    };
    const { logger } = captureLogger();
    worker = createMigrationWorker({ redisUrl: redis.url, queueName, roots: [dir], logger, engine });
    const [outcome] = await producer.waitForJobs(await producer.enqueue('up', [dbPath], { attempts: 2 }));
    expect(outcome?.state).toBe('completed');
    expect(outcome?.result).toMatchObject({ status: 'applied', earlierBackups: [leftBehind] });
    expect(outcome?.result?.backupPath).not.toBe(leftBehind);
  });
});
