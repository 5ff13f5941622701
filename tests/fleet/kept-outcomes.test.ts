import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Queue, QueueEvents } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { startRolloutController } from '../../src/fleet/controller.js';
import { rolloutsQueueName } from '../../src/fleet/rollout.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { redisForFile } from '../helpers/redis.js';
import { holdSqliteLock, waitFor } from '../queue/helpers.js';
import {
  type FleetRig,
  makeAppliedProject,
  makeBrokenProject,
  makeFrozenProject,
  makeProject,
  startFleetRig,
} from './helpers.js';

describe("a rollout whose finished database jobs BullMQ trimmed (another job's removeOnComplete)", () => {
  const redis = redisForFile();
  let rig: FleetRig;
  let migrations: Queue;
  let events: QueueEvents;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    rig = await startFleetRig(redis.url, { busyTimeoutMs: 100 });
    const connection = connectionOptionsFromUrl(redis.url);
    migrations = new Queue(rig.queueName, { connection });
    events = new QueueEvents(rig.queueName, { connection });
    await events.waitUntilReady();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await events.close();
    await migrations.close();
    await rig.close();
  });

  /**
   * A job another service adds with BullMQ directly, keeping only the last completed job: when it completes,
   * BullMQ trims the whole completed set down to it, the rollout's jobs with it.
   */
  async function trimCompletedJobs(dbPath: string, gone: string[]): Promise<void> {
    const job = await migrations.add('verify', { dbPath }, { removeOnComplete: { count: 1 } });
    await job.waitUntilFinished(events, 30_000);
    for (const jobId of gone) expect(await migrations.getJob(jobId)).toBeUndefined();
  }

  it('still reports every database done, with its backup, once its jobs were trimmed', async () => {
    const targets = ['t1', 't2', 't3'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({ op: 'up', targets });
    const before = await rig.fleet.wait(rolloutId);
    expect(before.state).toBe('completed');

    await trimCompletedJobs(
      targets[0] as string,
      targets.map((_, index) => `${rolloutId}_apply_${index}`),
    );
    const after = await rig.fleet.report(rolloutId);

    expect(after?.state).toBe('completed');
    expect(after?.counts).toMatchObject({ total: 3, done: 3, failed: 0, cancelled: 0, 'not-started': 0 });
    expect(after?.databases).toEqual(before.databases);
    for (const database of after?.databases ?? []) {
      expect(database).toMatchObject({ state: 'done', stage: 'apply' });
      expect(fs.existsSync(database.backupPath as string)).toBe(true);
    }
  });

  it('still says what a halted preflight found a down would discard, once its dry runs were trimmed', async () => {
    const used = makeAppliedProject(rig.root, 'used', 2);
    const plain = makeAppliedProject(rig.root, 'plain');
    const broken = makeBrokenProject(rig.root, 'broken');
    const rolloutId = await rig.fleet.start({ op: 'down', targets: [used, plain, broken], preflight: true });
    const before = await rig.fleet.wait(rolloutId);
    expect(before.state).toBe('halted');
    expect(before.databases.map((database) => database.wouldDiscard.map((item) => item.rows))).toEqual([
      [2, 1],
      [],
      [],
    ]);

    await trimCompletedJobs(used, [`${rolloutId}_preflight_0`, `${rolloutId}_preflight_1`]);
    const after = await rig.fleet.report(rolloutId);

    expect(after?.databases).toEqual(before.databases);
  });

  it('shows a failed database as failed, with its error and backup, once its job was trimmed', async () => {
    const good = makeProject(rig.root, 'good');
    const frozen = makeFrozenProject(rig.root, 'frozen');
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [good, frozen], attempts: 1 });
    const before = await rig.fleet.wait(rolloutId);
    expect(before.databases.map((database) => database.state)).toEqual(['done', 'failed']);
    expect(before.databases[1]?.error).toMatch(/^MIGRATION_FAILED/);
    expect(fs.existsSync(before.databases[1]?.backupPath as string)).toBe(true);

    // removeOnFail trims the failed set the same way.
    const failing = await migrations.add(
      'verify',
      { dbPath: `${rig.root}/missing/.gao-dev/documents.db` },
      { removeOnFail: { count: 1 } },
    );
    await expect(failing.waitUntilFinished(events, 30_000)).rejects.toThrow(/DB_NOT_FOUND/);
    await trimCompletedJobs(good, [`${rolloutId}_apply_0`]);
    expect(await migrations.getJob(`${rolloutId}_apply_1`)).toBeUndefined();
    const after = await rig.fleet.report(rolloutId);

    expect(after?.databases).toEqual(before.databases);
    expect(after?.state).toBe(before.state);
  });

  it('names the backups earlier attempts of a database kept, live and once its job was trimmed', async () => {
    const dbPath = makeProject(rig.root, 'busy');
    // A reader's open transaction: each attempt writes its backup, then its COMMIT waits past the busy timeout
    // (DB_LOCKED, retryable), the backup kept.
    const reader = new Database(dbPath);
    cleanups.push(async () => {
      reader.close();
    });
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM learning_index').get();
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [dbPath], attempts: 2 });
    const before = await rig.fleet.wait(rolloutId);
    const [database] = before.databases;
    expect(database).toMatchObject({ state: 'failed', error: expect.stringMatching(/^DB_LOCKED: /) });
    expect(database?.earlierBackups).toHaveLength(1);
    const folder = path.dirname(dbPath);
    const onDisk = fs.readdirSync(folder).filter((name) => /\.backup_\d{8}T\d{9}Z\.db$/.test(name));
    expect([...(database?.earlierBackups ?? []), database?.backupPath].sort()).toEqual(
      onDisk.map((name) => path.join(folder, name)).sort(),
    );

    const failing = await migrations.add(
      'verify',
      { dbPath: `${rig.root}/missing/.gao-dev/documents.db` },
      { removeOnFail: { count: 1 } },
    );
    await expect(failing.waitUntilFinished(events, 30_000)).rejects.toThrow(/DB_NOT_FOUND/);
    expect(await migrations.getJob(`${rolloutId}_apply_0`)).toBeUndefined();
    expect((await rig.fleet.report(rolloutId))?.databases).toEqual(before.databases);
  });

  it('is not halted when a controller takes it over after the jobs it saw finish were trimmed', async () => {
    const connection = connectionOptionsFromUrl(redis.url);
    const rollouts = new Queue(rolloutsQueueName(rig.queueName), { connection });
    cleanups.push(() => rollouts.close());
    const targets = ['c1', 'c2', 'r1'].map((name) => makeProject(rig.root, name));
    // The database after the canary is locked: its job retries until the test lets it through.
    const lock = await holdSqliteLock(targets[2] as string);
    cleanups.push(() => lock.release());
    const rolloutId = await rig.fleet.start({ op: 'up', targets, canary: 2, attempts: 100 });
    await waitFor(async () => {
      const job = await rollouts.getJob(rolloutId);
      return (job?.progress as { done?: number } | undefined)?.done === 2;
    }, 'the first controller to see the canary succeed');
    await waitFor(() => migrations.getJob(`${rolloutId}_apply_2`), 'the rest to be added');
    // Its worker stops: the rollout goes back to the rollouts queue, for another controller to take over.
    await rig.controller.close();
    expect(await rollouts.getJobState(rolloutId)).toBe('waiting');

    await trimCompletedJobs(targets[0] as string, [`${rolloutId}_apply_0`, `${rolloutId}_apply_1`]);
    const second = startRolloutController({ connection, queueName: rig.queueName, pollMs: 50 });
    cleanups.push(() => second.close());
    await lock.release();
    const report = await rig.fleet.wait(rolloutId);

    expect(report.reason).toBeNull();
    expect(report.state).toBe('completed');
    expect(report.counts).toMatchObject({ total: 3, done: 3, failed: 0, cancelled: 0 });
    for (const dbPath of targets) expect(new Migrator().verify({ dbPath }).status).toBe('verified');
  });
});
