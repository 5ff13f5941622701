import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { redisForFile } from '../helpers/redis.js';
import { waitFor } from '../queue/helpers.js';
import { type FleetRig, makeProject, startFleetRig } from './helpers.js';

const verifyStatus = (dbPath: string) => new Migrator().verify({ dbPath }).status;

describe('a rollout whose database job is removed by hand', () => {
  const redis = redisForFile();
  let rig: FleetRig;
  let migrations: Queue;

  beforeEach(async () => {
    rig = await startFleetRig(redis.url);
    migrations = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
    // Paused, the queue keeps every job waiting: the test removes one before any worker can take it.
    await migrations.pause();
  });
  afterEach(async () => {
    await migrations.close();
    await rig.close();
  });

  /** Removes `<rolloutId>_<stage>_<index>` as bull-board's remove button does, once the controller added it. */
  async function removeOnceAdded(jobId: string): Promise<void> {
    await waitFor(() => migrations.getJob(jobId), `job ${jobId} to be added`);
    expect(await migrations.remove(jobId)).toBe(1);
  }

  it('migrates the others, leaves that database alone and halts naming it, instead of completing', async () => {
    const targets = ['p1', 'p2', 'p3'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({ op: 'up', targets });
    await removeOnceAdded(`${rolloutId}_apply_1`);
    await migrations.resume();

    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toBe(
      `The job of 1 database was removed from the queue before the rollout saw it finish, so it counts as cancelled and may not be migrated: ${targets[1]}. Check with gao-migrate verify, or start a new rollout for it.`,
    );
    expect(report.counts).toMatchObject({ total: 3, done: 2, failed: 0, cancelled: 1, 'not-started': 0 });
    expect(report.databases.map((database) => database.state)).toEqual(['done', 'cancelled', 'done']);
    expect(targets.map(verifyStatus)).toEqual(['verified', 'not-applied', 'verified']);
    // Nothing failed: retry has nothing to re-add, and never brings a removed job back.
    expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
      retried: 0,
      resumed: false,
      haltedBy: null,
      requeued: 0,
    });
  });

  it('applies nothing to a database whose preflight job was removed, as it was never checked', async () => {
    const targets = ['f1', 'f2', 'f3'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({ op: 'up', targets, preflight: true });
    await removeOnceAdded(`${rolloutId}_preflight_1`);
    await migrations.resume();

    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toContain(`may not be migrated: ${targets[1]}.`);
    expect(report.databases.map((database) => database.state)).toEqual(['done', 'cancelled', 'done']);
    expect(await migrations.getJob(`${rolloutId}_apply_1`)).toBeUndefined();
    expect(targets.map(verifyStatus)).toEqual(['verified', 'not-applied', 'verified']);
  });

  it('halts after a canary whose job was removed, and starts none of the others', async () => {
    const targets = ['c1', 'c2', 'c3'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({ op: 'up', targets, canary: 1 });
    await removeOnceAdded(`${rolloutId}_apply_0`);
    await migrations.resume();

    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toMatch(
      /^Canary incomplete: 1 of 1 database\(s\) lost their job; the other 2 were not started\. The job of 1 database was removed/,
    );
    expect(report.counts).toMatchObject({ done: 0, cancelled: 3, 'not-started': 0 });
    expect(targets.map(verifyStatus)).toEqual(['not-applied', 'not-applied', 'not-applied']);
  });
});
