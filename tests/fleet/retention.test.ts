import fs from 'node:fs';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFleetClient } from '../../src/fleet/client.js';
import { startRolloutController } from '../../src/fleet/controller.js';
import { keptOutcomesKey } from '../../src/fleet/kept-outcomes.js';
import { KEPT_OUTCOMES_TTL_SECONDS, ROLLOUT_JOB_RETENTION } from '../../src/fleet/retention.js';
import { childJobId, rolloutsQueueName } from '../../src/fleet/rollout.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { acquireFileLock } from '../../src/worker/file-lock.js';
import { redisForFile } from '../helpers/redis.js';
import { waitFor } from '../queue/helpers.js';
import { type FleetRig, makeBrokenProject, makeProject, startFleetRig } from './helpers.js';

describe('rollout bookkeeping in Redis is bounded', () => {
  const redis = redisForFile();
  let rig: FleetRig;
  let migrations: Queue;
  let rollouts: Queue;

  beforeEach(async () => {
    rig = await startFleetRig(redis.url);
    const connection = connectionOptionsFromUrl(redis.url);
    migrations = new Queue(rig.queueName, { connection });
    rollouts = new Queue(rolloutsQueueName(rig.queueName), { connection });
  });
  afterEach(async () => {
    await Promise.all([migrations.close(), rollouts.close()]);
    await rig.close();
  });

  const ttlOfKeptOutcomes = async (rolloutId: string) =>
    Number(await (await migrations.client).runCommand('ttl', [keptOutcomesKey(migrations, rolloutId)]));

  it('keeps an ended rollout job 30 days and the latest 1,000 of each outcome by default', async () => {
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [makeProject(rig.root, 'kept')] });
    expect((await rig.fleet.wait(rolloutId)).state).toBe('completed');

    const job = await rollouts.getJob(rolloutId);
    expect(ROLLOUT_JOB_RETENTION).toEqual({
      removeOnComplete: { age: 30 * 24 * 3600, count: 1000 },
      removeOnFail: { age: 30 * 24 * 3600, count: 1000 },
    });
    expect(job?.opts).toMatchObject(ROLLOUT_JOB_RETENTION);
  });

  it('removes ended rollout jobs past the retention when the next one ends, and forgets them', async () => {
    const fleet = createFleetClient({
      connection: connectionOptionsFromUrl(redis.url),
      queueName: rig.queueName,
      retention: { removeOnComplete: { age: 3600, count: 1 }, removeOnFail: { age: 3600, count: 1 } },
    });
    try {
      const first = await fleet.start({ op: 'up', targets: [makeProject(rig.root, 'first')] });
      await fleet.wait(first);
      const second = await fleet.start({ op: 'up', targets: [makeProject(rig.root, 'second')] });
      expect((await fleet.wait(second)).state).toBe('completed');

      expect(await rollouts.getJob(first)).toBeUndefined();
      expect(await fleet.report(first)).toBeNull();
      expect(await fleet.list()).toEqual([second]);
    } finally {
      await fleet.close();
    }
  });

  it('lets the kept outcomes of a rollout expire a day after its job would be removed', async () => {
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [makeProject(rig.root, 'once')] });
    await rig.fleet.wait(rolloutId);

    const ttl = await ttlOfKeptOutcomes(rolloutId);
    expect(ttl).toBeGreaterThan(ROLLOUT_JOB_RETENTION.removeOnComplete.age);
    expect(ttl).toBeLessThanOrEqual(KEPT_OUTCOMES_TTL_SECONDS);
  });

  it('pushes the expiry of kept outcomes back when a controller takes the rollout up again', async () => {
    const canary = makeBrokenProject(rig.root, 'canary');
    const rolloutId = await rig.fleet.start({
      op: 'up',
      targets: [canary, makeProject(rig.root, 'rest')],
      canary: 1,
      attempts: 1,
    });
    expect((await rig.fleet.wait(rolloutId)).state).toBe('halted');
    // As if the halted rollout had sat for weeks.
    await (await migrations.client).runCommand('expire', [keptOutcomesKey(migrations, rolloutId), 60]);

    fs.rmSync(canary);
    fs.renameSync(makeProject(rig.root, 'mended'), canary);
    await rig.fleet.retryFailed(rolloutId);
    expect((await rig.fleet.wait(rolloutId)).state).toBe('completed');

    expect(await ttlOfKeptOutcomes(rolloutId)).toBeGreaterThan(KEPT_OUTCOMES_TTL_SECONDS - 60);
  });

  it('keeps pushing the expiry of kept outcomes back while a controller drives the rollout', async () => {
    const done = makeProject(rig.root, 'done');
    const held = makeProject(rig.root, 'held');
    // Its job waits for the <db>.lock the test holds: the rollout runs on, and keeps no new outcome meanwhile.
    const lock = await acquireFileLock(held);
    // The rig's controller refreshes the expiry hourly, as by default: this rollout is driven by one that does
    // so every 200 ms.
    await rig.controller.close();
    const controller = startRolloutController({
      connection: connectionOptionsFromUrl(redis.url),
      queueName: rig.queueName,
      pollMs: 50,
      keptOutcomesRefreshMs: 200,
    });
    try {
      const rolloutId = await rig.fleet.start({ op: 'up', targets: [done, held] });
      await waitFor(async () => (await ttlOfKeptOutcomes(rolloutId)) > 0, 'the first outcome to be kept');
      // As if the rollout had run for weeks since its last outcome was kept.
      await (await migrations.client).runCommand('expire', [keptOutcomesKey(migrations, rolloutId), 60]);

      await waitFor(
        async () => (await ttlOfKeptOutcomes(rolloutId)) > KEPT_OUTCOMES_TTL_SECONDS - 60,
        'the expiry of the kept outcomes to be pushed back',
      );
      // Pushed back by the refresh, not by keeping the held database's outcome.
      expect(await migrations.getJobState(childJobId(rolloutId, 'apply', 1))).toMatch(
        /^(active|waiting|delayed)$/,
      );
    } finally {
      await lock.release();
      await controller.close();
    }
  });
});
