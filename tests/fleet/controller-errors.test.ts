import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createFleetClient } from '../../src/fleet/client.js';
import { startRolloutController } from '../../src/fleet/controller.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { startLocalRedis } from '../../src/queue/local-redis.js';
import { createMigrationWorker } from '../../src/worker/migration-worker.js';
import { waitFor } from '../queue/helpers.js';
import { makeAppliedProject } from './helpers.js';

describe('rollout controller while Redis is away', () => {
  it('says so once, not at every reconnection attempt', async () => {
    const redis = await startLocalRedis();
    const events: Record<string, unknown>[] = [];
    const controller = startRolloutController({
      connection: connectionOptionsFromUrl(redis.url),
      queueName: `test-${randomUUID()}`,
      onEvent: (event) => events.push(event),
    });
    try {
      await waitFor(() => controller.worker.isRunning(), 'the controller to run');
      await redis.stop();
      const errors = () => events.filter((event) => event.event === 'controller-error');
      await waitFor(() => errors().length > 0, 'the controller to say Redis is away');
      // ioredis tries again every few hundred ms: several attempts fail meanwhile.
      await sleep(3_000);
      expect(errors()).toHaveLength(1);
    } finally {
      await Promise.race([controller.close(), sleep(5_000)]);
    }
  });

  it('drives a rollout started just after Redis came back from a long outage, not up to 20 s later', async () => {
    let redis = await startLocalRedis();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-fleet-outage-'));
    const dbPath = makeAppliedProject(root, 'alpha');
    const queueName = `test-${randomUUID()}`;
    const connection = connectionOptionsFromUrl(redis.url);
    const logger = pino({ level: 'silent' });
    const worker = createMigrationWorker({ redisUrl: redis.url, queueName, roots: [root], logger });
    const controller = startRolloutController({ connection, queueName, pollMs: 50 });
    try {
      await waitFor(() => controller.worker.isRunning(), 'the controller to run');
      await redis.stop({ hard: true });
      // Away long enough for BullMQ's default reconnection backoff (2.7 s, 7.4 s, then 20 s apart) to grow.
      await sleep(12_000);
      redis = await startLocalRedis({ port: redis.port });
      // A fresh client, as `gao-migrate fleet` is: only the long-lived controller and worker were away.
      const fleet = createFleetClient({ connection, queueName });
      try {
        const rolloutId = await fleet.start({ op: 'verify', targets: [dbPath] });
        const states: (string | undefined)[] = [];
        for (let second = 0; second < 6; second += 1) {
          states.push((await fleet.report(rolloutId))?.state);
          if (states.at(-1) === 'completed') break;
          await sleep(1000);
        }
        expect(states.at(-1)).toBe('completed');
      } finally {
        await fleet.close();
      }
    } finally {
      await Promise.race([Promise.all([controller.close(), worker.close()]), sleep(10_000)]);
      await redis.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
