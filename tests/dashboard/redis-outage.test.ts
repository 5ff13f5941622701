import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { REDIS_UNAVAILABLE_LOG } from '../../src/dashboard/server.js';
import { type LocalRedis, startLocalRedis } from '../../src/queue/local-redis.js';
import { captureLogger } from '../queue/helpers.js';
import { freshQueueName } from './helpers.js';

let dashboard: DashboardServer | undefined;
let redis: LocalRedis | undefined;

afterEach(async () => {
  await dashboard?.close();
  await redis?.stop();
  dashboard = undefined;
  redis = undefined;
});

/**
 * Status codes of up to `count` requests to `url`, one a second, stopping after the first `until` if given: how
 * the dashboard answers over those seconds.
 */
async function statusesOver(url: string, count: number, until?: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let index = 0; index < count; index += 1) {
    statuses.push((await fetch(url)).status);
    if (statuses.at(-1) === until) break;
    await sleep(1000);
  }
  return statuses;
}

describe('dashboard while Redis goes away and comes back', () => {
  it('answers 503 while Redis is away, says so once, and serves every route again once it is back', async () => {
    const { logger, lines } = captureLogger();
    redis = await startLocalRedis();
    dashboard = createDashboardServer({
      logger,
      redisUrl: redis.url,
      queueName: freshQueueName(),
      port: 0,
      healthTimeoutMs: 500,
      redisTimeoutMs: 1000,
    });
    const { url } = await dashboard.listen();
    // Both of the dashboard's connections (the queue's, and the rollouts queue's opened by the fleet page) exist.
    expect((await fetch(`${url}/fleet`)).status).toBe(200);

    await redis.stop({ hard: true });
    // Away long enough for BullMQ's default reconnection backoff (2.7 s, 7.4 s, then 20 s apart) to have grown.
    const whileAway = await statusesOver(`${url}/fleet`, 12);
    expect(new Set(whileAway)).toEqual(new Set([503]));
    const api = await fetch(`${url}/queues/api/queues`);
    expect(api.status).toBe(503);
    expect(await api.json()).toMatchObject({ message: 'Redis is unavailable.' });

    redis = await startLocalRedis({ port: redis.port });
    // Reconnection attempts at most 2 s apart (BullMQ's own grow to 20 s): every route answers again within seconds.
    const statuses = await statusesOver(`${url}/metrics`, 10, 200);
    expect(statuses.at(-1)).toBe(200);
    expect((await fetch(`${url}/fleet`)).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/queues/api/queues`)).status).toBe(200);
    // 13 requests failed: said once, not once each; nothing logged at error level for any other reason.
    expect(lines.filter((line) => line.msg === REDIS_UNAVAILABLE_LOG)).toHaveLength(1);
    expect(lines.filter((line) => (line.level as number) >= 50)).toHaveLength(1);
  }, 60_000);

  it("answers bull-board's API with 503 'Redis is unavailable.' and logs it, not a 500 with ioredis's words", async () => {
    const { logger, lines } = captureLogger();
    dashboard = createDashboardServer({
      redisUrl: 'redis://127.0.0.1:1',
      queueName: freshQueueName(),
      port: 0,
      redisTimeoutMs: 1000,
      logger,
    });
    const { url } = await dashboard.listen();
    const response = await fetch(`${url}/queues/api/queues`);
    const body = await response.text();
    expect(response.status).toBe(503);
    expect(JSON.parse(body)).toMatchObject({ message: 'Redis is unavailable.' });
    expect(body).not.toMatch(/maxRetriesPerRequest|max retries/i);
    expect((await fetch(`${url}/fleet`)).status).toBe(503);
    expect(lines.filter((line) => line.msg === REDIS_UNAVAILABLE_LOG)).toHaveLength(1);
  });
});
