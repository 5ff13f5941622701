import { afterEach, describe, expect, it } from 'vitest';
import {
  createDashboardServer,
  credentialsFromEnv,
  type DashboardServer,
  isLoopbackHost,
} from '../../src/dashboard/index.js';
import { redisForFile } from '../helpers/redis.js';
import { basicHeader, freshQueueName, type SeededFleet, seedRollout } from './helpers.js';

const redis = redisForFile();
let dashboard: DashboardServer | undefined;
let fleet: SeededFleet | undefined;

afterEach(async () => {
  await dashboard?.close();
  await fleet?.cleanup();
  dashboard = undefined;
  fleet = undefined;
});

const AUTH = { user: 'ops', password: 'correct horse: battery staple' };

describe('dashboard bind rule', () => {
  it.each(['0.0.0.0', '::', '192.168.1.20', 'dashboard.example.com', ''])(
    'refuses to bind %j without credentials',
    (host) => {
      expect(() => createDashboardServer({ redisUrl: redis.url, queueName: freshQueueName(), host })).toThrow(
        expect.objectContaining({ code: 'DASHBOARD_UNSAFE_BIND' }),
      );
    },
  );

  it('names an empty host for what it binds when it refuses it', () => {
    expect(() =>
      createDashboardServer({ redisUrl: redis.url, queueName: freshQueueName(), host: '' }),
    ).toThrow(
      'Refusing to serve the dashboard on every interface (an empty host) without credentials: set GAO_MIGRATE_DASHBOARD_USER and GAO_MIGRATE_DASHBOARD_PASSWORD, or bind 127.0.0.1.',
    );
  });

  it('refuses a malformed Redis URL with a code and without its password', () => {
    expect(() =>
      createDashboardServer({ redisUrl: 'http://user:hunter2@example.com', queueName: freshQueueName() }),
    ).toThrow(
      expect.objectContaining({
        code: 'DASHBOARD_INVALID_OPTION',
        message: expect.not.stringContaining('hunter2'),
      }),
    );
  });

  it('counts only loopback addresses as safe', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host)).toBe(true);
    }
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '::ffff:10.0.0.1',
      'localhost.example.com',
      '128.0.0.1',
    ]) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });

  it('binds a non-loopback address when credentials are given', async () => {
    dashboard = createDashboardServer({
      redisUrl: redis.url,
      queueName: freshQueueName(),
      host: '0.0.0.0',
      port: 0,
      auth: AUTH,
    });
    const { port } = await dashboard.listen();
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(response.status).toBe(200);
  });

  it('refuses a user name with a colon, which basic auth could never send', async () => {
    const withColon = { user: 'ops:admin', password: 'secret' };
    expect(() =>
      createDashboardServer({ redisUrl: redis.url, queueName: freshQueueName(), port: 0, auth: withColon }),
    ).toThrow(
      expect.objectContaining({
        code: 'DASHBOARD_INVALID_CREDENTIALS',
        message: expect.stringContaining('cannot contain a colon'),
      }),
    );
  });

  it('reads credentials from the environment, both or neither', () => {
    expect(credentialsFromEnv({})).toBeUndefined();
    expect(
      credentialsFromEnv({ GAO_MIGRATE_DASHBOARD_USER: 'u', GAO_MIGRATE_DASHBOARD_PASSWORD: 'p' }),
    ).toEqual({ user: 'u', password: 'p' });
    expect(() => credentialsFromEnv({ GAO_MIGRATE_DASHBOARD_USER: 'u' })).toThrow(
      expect.objectContaining({ code: 'DASHBOARD_INCOMPLETE_CREDENTIALS' }),
    );
  });
});

describe('dashboard basic auth', () => {
  async function startWithAuth(queueName = freshQueueName()) {
    dashboard = createDashboardServer({ redisUrl: redis.url, queueName, port: 0, auth: AUTH });
    return (await dashboard.listen()).url;
  }

  it('answers 401 without credentials or with wrong ones on every route but /healthz', async () => {
    const url = await startWithAuth();
    for (const route of ['/', '/fleet', '/fleet/some-rollout', '/metrics', '/queues', '/queues/api/queues']) {
      const bare = await fetch(`${url}${route}`, { redirect: 'manual' });
      expect(bare.status, route).toBe(401);
      expect(bare.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      const wrongPassword = await fetch(`${url}${route}`, {
        headers: { authorization: basicHeader(AUTH.user, 'correct horse') },
        redirect: 'manual',
      });
      expect(wrongPassword.status, route).toBe(401);
      const wrongUser = await fetch(`${url}${route}`, {
        headers: { authorization: basicHeader('admin', AUTH.password) },
        redirect: 'manual',
      });
      expect(wrongUser.status, route).toBe(401);
    }
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
  });

  it('answers 200 with the right credentials', async () => {
    const url = await startWithAuth();
    const headers = { authorization: basicHeader(AUTH.user, AUTH.password) };
    for (const route of ['/fleet', '/metrics', '/queues', '/queues/api/queues']) {
      const response = await fetch(`${url}${route}`, { headers });
      expect(response.status, route).toBe(200);
    }
  });
});

describe('dashboard read-only mode', () => {
  // The held job keeps the worker busy, so a retried job stays waiting where the test can see it.
  const paths = {
    completed: [],
    failed: ['/projects/bad-one/documents.db'],
    active: ['/projects/hold-two/documents.db'],
    waiting: [],
    delayed: [],
  };

  async function retryFailed(readOnly: boolean) {
    const queueName = freshQueueName();
    fleet = await seedRollout(redis.url, queueName, 'rollout-ro', paths);
    dashboard = createDashboardServer({ redisUrl: redis.url, queueName, port: 0, readOnly });
    const { url } = await dashboard.listen();
    const queues = (await (await fetch(`${url}/queues/api/queues`)).json()) as {
      queues: { name: string; readOnlyMode: boolean; allowRetries: boolean }[];
    };
    const retry = await fetch(`${url}/queues/api/queues/${queueName}/retry/failed`, { method: 'PUT' });
    const clean = await fetch(`${url}/queues/api/queues/${queueName}/clean/failed`, { method: 'PUT' });
    return { queue: queues.queues.find((entry) => entry.name === queueName), retry, clean, queueName };
  }

  it('marks the queue read-only and refuses retry and clean on the API', async () => {
    const { queue, retry, clean } = await retryFailed(true);
    expect(queue).toMatchObject({ readOnlyMode: true, allowRetries: false });
    expect(retry.status).toBe(405);
    expect(clean.status).toBe(405);
    const counts = await fleet?.queue.getJobCounts('failed', 'waiting');
    expect(counts).toMatchObject({ failed: 1, waiting: 0 });
  });

  it('allows retry when not read-only', async () => {
    const { queue, retry } = await retryFailed(false);
    expect(queue).toMatchObject({ readOnlyMode: false, allowRetries: true });
    expect(retry.status).toBe(200);
    const counts = await fleet?.queue.getJobCounts('failed', 'waiting');
    expect(counts).toMatchObject({ failed: 0, waiting: 1 });
  });
});
