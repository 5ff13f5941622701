import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { startRolloutController } from '../../src/fleet/controller.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { redisForFile } from '../helpers/redis.js';
import { waitFor } from '../queue/helpers.js';

describe('rollout controller', () => {
  const redis = redisForFile();

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
});
