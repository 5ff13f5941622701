import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { closeQueue } from '../../src/queue/close-queue.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { redisForFile } from '../helpers/redis.js';

const redis = redisForFile();

describe('closing a queue', () => {
  // Closing right after a request is covered, with the rejection it used to leave, by tests/dashboard/routes.test.ts.
  it('waits for a starting connection, then closes', async () => {
    const queue = new Queue(`test-${randomUUID()}`, { connection: connectionOptionsFromUrl(redis.url) });
    await closeQueue(queue, 5_000);
    expect(queue.closing).toBeDefined();
    expect(await queue.client.then((client) => client.status)).toBe('end');
  });

  it('gives up waiting for a Redis that never answers after the time it is given', async () => {
    const queue = new Queue(`test-${randomUUID()}`, {
      connection: { ...connectionOptionsFromUrl('redis://127.0.0.1:1'), maxRetriesPerRequest: 1 },
    });
    queue.on('error', () => {});
    const started = Date.now();
    await closeQueue(queue, 300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
