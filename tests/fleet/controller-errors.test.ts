import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startRolloutController } from '../../src/fleet/controller.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { startLocalRedis } from '../../src/queue/local-redis.js';
import { waitFor } from '../queue/helpers.js';

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
});
