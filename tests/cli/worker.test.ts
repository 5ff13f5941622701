import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { rolloutsQueueName } from '../../src/fleet/rollout.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import type { MigrationJobResult } from '../../src/queue/contract.js';
import { acquireFileLock } from '../../src/worker/file-lock.js';
import { redisForFile } from '../helpers/redis.js';
import {
  type CliWorker,
  holdSqliteLock,
  killQuietly,
  sampleDb,
  startCliWorker,
  tempDir,
  waitFor,
} from '../queue/helpers.js';

const redis = redisForFile();
let queueName: string;
let dir: string;
let queue: Queue;
const children: CliWorker[] = [];

beforeEach(() => {
  queueName = `test-${randomUUID()}`;
  dir = tempDir();
  queue = new Queue(queueName, { connection: connectionOptionsFromUrl(redis.url) });
});
afterEach(async () => {
  for (const child of children.splice(0)) await killQuietly(child);
  await queue.obliterate({ force: true });
  await queue.close();
  const rollouts = new Queue(rolloutsQueueName(queueName), {
    connection: connectionOptionsFromUrl(redis.url),
  });
  await rollouts.obliterate({ force: true });
  await rollouts.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function worker(args: string[] = []): Promise<CliWorker> {
  const started = await startCliWorker(
    { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName, GAO_MIGRATE_ROOTS: dir },
    args,
  );
  children.push(started);
  return started;
}

const timeOf = (line: Record<string, unknown>) => Date.parse(String(line.time));

describe('gao-migrate worker', () => {
  it('finishes the job it is running on SIGTERM, then exits 0', async () => {
    const dbPath = sampleDb(dir, 'term');
    const holder = await holdSqliteLock(dbPath);
    try {
      const child = await worker(['--busy-timeout', '120000']);
      const job = await queue.add('migrate-up', { dbPath }, { attempts: 1 });
      await child.waitForLog(
        (line) => line.jobId === job.id && line.step === 'preconditions',
        'the engine to start',
      );
      child.child.kill('SIGTERM');
      await child.waitForLog((line) => line.signal === 'SIGTERM', 'the worker to acknowledge SIGTERM');
      expect(await queue.getJobState(job.id as string)).toBe('active');
      await holder.release();
      expect(await child.exited).toBe(0);
      expect(await queue.getJobState(job.id as string)).toBe('completed');
      const done = await queue.getJob(job.id as string);
      expect((done?.returnvalue as MigrationJobResult | undefined)?.status).toBe('applied');
      expect(child.lines.some((line) => line.msg === 'worker stopped')).toBe(true);
    } finally {
      await holder.release();
    }
  });

  it('never lets two worker processes migrate the same database at once', async () => {
    const dbPath = sampleDb(dir, 'shared', 2000);
    // Hold the file lock so that both workers take a job and contend for it.
    const held = await acquireFileLock(dbPath);
    const first = await worker();
    const second = await worker();
    const names = ['migrate-up', 'migrate-down', 'migrate-up', 'migrate-down', 'migrate-up', 'migrate-down'];
    const jobs = [];
    for (const name of names) jobs.push(await queue.add(name, { dbPath }, { attempts: 5 }));
    await waitFor(async () => (await queue.getActiveCount()) === 2, 'both workers to take a job');
    await held.release();
    await waitFor(async () => (await queue.getCompletedCount()) === names.length, 'every job to complete', {
      timeoutMs: 60_000,
    });

    const holds = [first, second].flatMap((child) =>
      child.lines
        .filter((line) => line.msg === 'file lock acquired')
        .map((acquired) => {
          const releasing = child.lines.find(
            (line) => line.jobId === acquired.jobId && line.msg === 'releasing the file lock',
          );
          if (!releasing) throw new Error(`no release logged for job ${acquired.jobId}`);
          return { pid: acquired.pid, from: timeOf(acquired), to: timeOf(releasing) };
        }),
    );
    expect(holds).toHaveLength(names.length);
    expect(new Set(holds.map((hold) => hold.pid)).size).toBe(2);
    holds.sort((a, b) => a.from - b.from);
    for (let index = 1; index < holds.length; index++) {
      expect(holds[index]?.from).toBeGreaterThanOrEqual(holds[index - 1]?.to as number);
    }
    const results = await Promise.all(
      jobs.map(async (job) => (await queue.getJob(job.id as string))?.returnvalue),
    );
    expect(
      results.filter((result) => (result as MigrationJobResult).lockWaitMs > 0).length,
    ).toBeGreaterThanOrEqual(2);
    expect(fs.existsSync(`${dbPath}.lock`)).toBe(false);
  });

  it('hands a rollout whose worker was killed -9 to another worker within its --stall-timeout, which finishes it', async () => {
    const dbPath = sampleDb(dir, 'rollout-held');
    // The database stays locked: the rollout is still waiting for its job when its worker is killed.
    const holder = await holdSqliteLock(dbPath);
    const fleet = createFleetClient({ connection: connectionOptionsFromUrl(redis.url), queueName });
    try {
      const args = ['--stall-timeout', '2000', '--busy-timeout', '120000'];
      const first = await worker(args);
      const rolloutId = await fleet.start({ op: 'up', targets: [dbPath] });
      const drives = (line: Record<string, unknown>) =>
        line.event === 'stage-started' && line.rolloutId === rolloutId;
      await first.waitForLog(drives, 'the first worker to drive the rollout');
      await first.waitForLog((line) => line.step === 'preconditions', 'the database job to start');
      const second = await worker(args);
      first.child.kill('SIGKILL');
      await first.exited;

      // A safety net only, under BullMQ's default 30 s lock, which the rollout's lock used to keep whatever
      // --stall-timeout said: the second worker takes the rollout over once the dead one's lock expires.
      await waitFor(() => second.lines.find(drives), 'the second worker to take the rollout over', {
        timeoutMs: 25_000,
      });
      await holder.release();
      const report = await fleet.wait(rolloutId);
      expect(report.state).toBe('completed');
      expect(report.counts).toMatchObject({ total: 1, done: 1, failed: 0 });
      expect(new Migrator().verify({ dbPath }).status).toBe('verified');
    } finally {
      await holder.release();
      await fleet.close();
    }
  });
});
