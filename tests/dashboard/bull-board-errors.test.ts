import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { REDIS_UNAVAILABLE_LOG } from '../../src/dashboard/server.js';
import { redisForFile } from '../helpers/redis.js';
import { startVanishingProxy, type VanishingProxy } from '../helpers/tcp-proxy.js';
import { captureLogger } from '../queue/helpers.js';
import { connectionFor, freshQueueName } from './helpers.js';

/**
 * bull-board's API failing for real, past the dashboard's check that Redis answers: what its error handler
 * sends and logs. bull-board's own handler would send the stack to the browser when NODE_ENV is development,
 * so every test runs with it set so.
 */

// Its own Redis: a test below fills its memory limit.
const redis = redisForFile({ private: true });
let dashboard: DashboardServer | undefined;
let proxy: VanishingProxy | undefined;
let admin: Redis | undefined;
let queue: Queue | undefined;
const nodeEnv = process.env.NODE_ENV;

afterEach(async () => {
  process.env.NODE_ENV = nodeEnv;
  await admin?.config('SET', 'maxmemory', '0');
  admin?.disconnect();
  await dashboard?.close();
  await proxy?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
  dashboard = undefined;
  proxy = undefined;
  admin = undefined;
  queue = undefined;
});

async function startDashboard(redisUrl: string, queueName = freshQueueName()) {
  const { logger, lines } = captureLogger();
  dashboard = createDashboardServer({
    redisUrl,
    queueName,
    port: 0,
    healthTimeoutMs: 500,
    redisTimeoutMs: 1000,
    logger,
  });
  const { url } = await dashboard.listen();
  // Connected, and bull-board's API answering, before anything fails.
  expect((await fetch(`${url}/queues/api/queues`)).status).toBe(200);
  process.env.NODE_ENV = 'development';
  return { url, queueName, lines };
}

const STACK_FRAME = /\n\s+at /;

describe("bull-board's API failing behind the dashboard", () => {
  it("answers 503 'Redis is unavailable.' when Redis goes away between the check and bull-board's commands", async () => {
    proxy = await startVanishingProxy(redis.url);
    const { url, lines } = await startDashboard(proxy.url);
    // The dashboard's check is a PING; the next command is bull-board's own, and Redis is gone by then.
    const vanished = proxy.vanishAt((chunk) => !/ping/i.test(chunk));

    const response = await fetch(`${url}/queues/api/queues`);
    await vanished;
    const body = await response.text();
    expect(response.status).toBe(503);
    expect(JSON.parse(body)).toEqual({
      error: { key: 'ERRORS.INTERNAL_SERVER_ERROR' },
      message: 'Redis is unavailable.',
    });
    expect(body).not.toMatch(STACK_FRAME);
    // Logged once, with what ioredis said: bull-board's command failed, not the dashboard's check.
    const logged = lines.filter((line) => line.msg === REDIS_UNAVAILABLE_LOG);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      level: 50,
      path: '/queues',
      err: expect.stringMatching(/max retries/i),
    });
  }, 30_000);

  it('answers a write Redis refuses with its sentence, logs it, and sends no stack', async () => {
    queue = new Queue(freshQueueName(), { connection: connectionFor(redis.url) });
    const { url, queueName, lines } = await startDashboard(redis.url, queue.name);
    admin = new Redis(redis.url);
    // Out of memory, with no eviction: Redis still answers PING and reads, and refuses every write.
    await admin.config('SET', 'maxmemory', '1');

    const response = await fetch(`${url}/queues/api/queues/${encodeURIComponent(queueName)}/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'verify', data: { dbPath: '/srv/a/.gao-dev/documents.db' }, options: {} }),
    });
    const body = await response.text();
    expect(response.status).toBe(500);
    // Redis's own sentence (and the script that met it), which bull-board's page shows.
    expect(JSON.parse(body)).toEqual({
      error: { key: 'ERRORS.INTERNAL_SERVER_ERROR' },
      message: expect.stringMatching(/^OOM command not allowed when used memory > 'maxmemory'\./),
    });
    expect(body).not.toMatch(STACK_FRAME);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        msg: 'dashboard request failed',
        path: '/queues',
        err: expect.stringMatching(/^OOM command not allowed/),
      }),
    );
    await admin.config('SET', 'maxmemory', '0');
    expect(await queue.count()).toBe(0);
  });

  it('answers a malformed JSON body with 400, logs it as a refusal, and sends no stack', async () => {
    const { url, queueName, lines } = await startDashboard(redis.url);
    const response = await fetch(`${url}/queues/api/queues/${encodeURIComponent(queueName)}/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name": "verify", "data": ',
    });
    const body = await response.text();
    expect(response.status).toBe(400);
    expect(JSON.parse(body)).toMatchObject({ error: { key: 'ERRORS.INTERNAL_SERVER_ERROR' } });
    expect(JSON.parse(body)).not.toHaveProperty('details');
    expect(body).not.toMatch(STACK_FRAME);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 30, msg: 'dashboard refused a request', status: 400 }),
    );
  });
});
