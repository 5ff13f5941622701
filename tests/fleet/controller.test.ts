import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { startRolloutController } from '../../src/fleet/controller.js';
import { rolloutsQueueName } from '../../src/fleet/rollout.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { createMigrationWorker } from '../../src/worker/migration-worker.js';
import { redisForFile } from '../helpers/redis.js';
import { waitFor } from '../queue/helpers.js';
import { makeProject } from './helpers.js';

describe('rollout controller', () => {
  const redis = redisForFile();
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('given a database number Redis does not have, takes no rollout from database 0 and says why', async () => {
    const url = new URL(redis.url);
    url.pathname = '/9999';
    const events: Record<string, unknown>[] = [];
    const controller = startRolloutController({
      connection: connectionOptionsFromUrl(url.href),
      queueName: `test-${randomUUID()}`,
      onEvent: (event) => events.push(event),
    });
    try {
      const refused = await waitFor(
        async () => events.find((event) => event.event === 'controller-refused'),
        'the controller to refuse',
      );
      expect(refused.error).toMatch(/refused the connection's setup \(ERR DB index is out of range\)/);
      expect(controller.worker.isRunning()).toBe(false);
    } finally {
      await controller.close();
    }
  });

  it('hands a rollout it is driving back when it stops, and the next controller finishes it', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-controller-'));
    cleanups.push(async () => fs.rmSync(root, { recursive: true, force: true }));
    const queueName = `test-${randomUUID()}`;
    const connection = connectionOptionsFromUrl(redis.url);
    const fleet = createFleetClient({ connection, queueName });
    const rollouts = new Queue(rolloutsQueueName(queueName), { connection });
    cleanups.push(
      () => fleet.close(),
      () => rollouts.close(),
    );
    const targets = ['a', 'b', 'c'].map((name) => makeProject(root, name));

    // No worker takes the databases' jobs yet: the first controller is still waiting for them when it stops.
    const events: Record<string, unknown>[] = [];
    const first = startRolloutController({
      connection,
      queueName,
      pollMs: 20,
      onEvent: (e) => events.push(e),
    });
    const rolloutId = await fleet.start({ op: 'up', targets, canary: 1 });
    await waitFor(
      async () => events.find((event) => event.event === 'stage-started'),
      'the first controller to start the canary',
    );
    await first.close();

    expect(events.map((event) => event.event)).toContain('rollout-handed-back');
    expect(await rollouts.getJobState(rolloutId)).toBe('waiting');
    const job = await rollouts.getJob(rolloutId);
    expect(job?.failedReason ?? '').toBe('');

    const worker = createMigrationWorker({
      redisUrl: redis.url,
      queueName,
      roots: [root],
      logger: pino({ level: 'silent' }),
    });
    const second = startRolloutController({ connection, queueName, pollMs: 20 });
    cleanups.push(
      () => worker.close(),
      () => second.close(),
    );
    const report = await fleet.wait(rolloutId);
    expect(report.state).toBe('completed');
    expect(report.counts).toMatchObject({ total: 3, done: 3, failed: 0, cancelled: 0 });
    for (const dbPath of targets) expect(new Migrator().verify({ dbPath }).status).toBe('verified');
  });

  it('does not add back a job removed while no controller drove the rollout', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-controller-'));
    cleanups.push(async () => fs.rmSync(root, { recursive: true, force: true }));
    const queueName = `test-${randomUUID()}`;
    const connection = connectionOptionsFromUrl(redis.url);
    const fleet = createFleetClient({ connection, queueName });
    const migrations = new Queue(queueName, { connection });
    cleanups.push(
      () => fleet.close(),
      () => migrations.close(),
    );
    const targets = ['a', 'b', 'c'].map((name) => makeProject(root, name));

    // The first controller adds the jobs (no worker takes them) and hands the rollout back when it stops.
    const first = startRolloutController({ connection, queueName, pollMs: 20 });
    const rolloutId = await fleet.start({ op: 'up', targets });
    const removed = `${rolloutId}_apply_1`;
    await waitFor(() => migrations.getJob(removed), 'the first controller to add the jobs');
    await first.close();
    // Removed on purpose while the rollout waits for a controller: the one that takes it over must not re-add it.
    expect(await migrations.remove(removed)).toBe(1);

    const worker = createMigrationWorker({
      redisUrl: redis.url,
      queueName,
      roots: [root],
      logger: pino({ level: 'silent' }),
    });
    const second = startRolloutController({ connection, queueName, pollMs: 20 });
    cleanups.push(
      () => worker.close(),
      () => second.close(),
    );
    const report = await fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toContain(`may not be migrated: ${targets[1]}.`);
    expect(report.counts).toMatchObject({ done: 2, cancelled: 1 });
    expect(targets.map((dbPath) => new Migrator().verify({ dbPath }).status)).toEqual([
      'verified',
      'not-applied',
      'verified',
    ]);
  });
});
