import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { redisForFile } from '../helpers/redis.js';
import { basicHeader, connectionFor, freshQueueName, send } from './helpers.js';

const redis = redisForFile();
let dashboard: DashboardServer | undefined;
let queue: Queue | undefined;

afterEach(async () => {
  await dashboard?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
  dashboard = undefined;
  queue = undefined;
});

async function start(extra: { allowedHosts?: string[]; host?: string; withAuth?: boolean } = {}) {
  const queueName = freshQueueName();
  queue = new Queue(queueName, { connection: connectionFor(redis.url) });
  dashboard = createDashboardServer({
    redisUrl: redis.url,
    queueName,
    port: 0,
    host: extra.host,
    allowedHosts: extra.allowedHosts,
    auth: extra.withAuth ? { user: 'ops', password: 'pw' } : undefined,
  });
  const { port } = await dashboard.listen();
  return { port, queueName, queue };
}

/** What a DNS-rebinding page sent: bull-board's add-job API, with a migrate-down of someone's database. */
function addMigrateDown(port: number, queueName: string, headers: Record<string, string>) {
  return send(port, `/queues/api/queues/${queueName}/add`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      name: 'migrate-down',
      data: { dbPath: '/path/.gao-dev/documents.db' },
      options: {},
    }),
  });
}

describe('dashboard Host check (DNS rebinding)', () => {
  it('refuses a foreign Host on the fleet pages, bull-board and its API, but answers /healthz', async () => {
    const { port, queueName } = await start();
    const foreign = { host: `attacker.example:${port}` };
    for (const path of ['/', '/fleet', '/fleet/some-rollout', '/metrics', '/queues', '/queues/api/queues']) {
      const answer = await send(port, path, { headers: foreign });
      expect(answer.status, path).toBe(421);
      expect(answer.body).toBe('This dashboard does not answer to that host name.\n');
    }
    const write = await addMigrateDown(port, queueName, {
      ...foreign,
      origin: `http://attacker.example:${port}`,
    });
    expect(write.status).toBe(421);
    expect(await queue?.count()).toBe(0);
    expect((await send(port, '/healthz', { headers: foreign })).status).toBe(200);
  });

  it('answers to its loopback names with its own port only', async () => {
    const { port } = await start();
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      expect((await send(port, '/fleet', { headers: { host } })).status, host).toBe(200);
    }
    for (const host of [`localhost:${port + 1}`, 'localhost', `127.0.0.2:${port}`]) {
      expect((await send(port, '/fleet', { headers: { host } })).status, host).toBe(421);
    }
    // No Host at all: node's HTTP server itself answers 400 to HTTP/1.1 without one.
    expect((await send(port, '/fleet', { headers: { host: '' } })).status).toBe(400);
  });

  it('answers to the allowed hosts of a reverse proxy', async () => {
    const { port } = await start({ allowedHosts: ['dash.example.com', 'proxy.internal:8443'] });
    const status = async (host: string) => (await send(port, '/fleet', { headers: { host } })).status;
    expect(await status('dash.example.com')).toBe(200);
    expect(await status('dash.example.com:443')).toBe(200);
    expect(await status('proxy.internal:8443')).toBe(200);
    expect(await status('proxy.internal:8444')).toBe(421);
    expect(await status('other.example.com')).toBe(421);
  });

  it('accepts any Host beyond loopback, where credentials guard it, unless allowed hosts are given', async () => {
    const auth = { authorization: basicHeader('ops', 'pw') };
    const open = await start({ host: '0.0.0.0', withAuth: true });
    const headers = { ...auth, host: `dashboard:${open.port}` };
    expect((await send(open.port, '/fleet', { headers })).status).toBe(200);
    await dashboard?.close();

    const listed = await start({ host: '0.0.0.0', withAuth: true, allowedHosts: ['dash.example.com'] });
    const refused = { ...auth, host: `dashboard:${listed.port}` };
    expect((await send(listed.port, '/fleet', { headers: refused })).status).toBe(421);
    const named = { ...auth, host: 'dash.example.com' };
    expect((await send(listed.port, '/fleet', { headers: named })).status).toBe(200);
  });

  it('refuses an allowed host that is not a host name', () => {
    expect(() =>
      createDashboardServer({
        redisUrl: redis.url,
        queueName: freshQueueName(),
        allowedHosts: ['https://dash.example.com/'],
      }),
    ).toThrow(expect.objectContaining({ code: 'DASHBOARD_INVALID_OPTION' }));
  });
});

describe('dashboard Origin check (cross-site writes)', () => {
  it('refuses a write whose Origin is another site, even one on this machine', async () => {
    const { port, queueName } = await start();
    const host = `127.0.0.1:${port}`;
    // A "simple" no-cors POST from another local page: text/plain, so no preflight would stop it.
    const simple = await send(port, `/queues/api/queues/${queueName}/add`, {
      method: 'POST',
      headers: { host, origin: 'http://localhost:8080', 'content-type': 'text/plain' },
      body: '{"name":"migrate-down","data":{"dbPath":"/path/.gao-dev/documents.db"},"options":{}}',
    });
    expect(simple.status).toBe(403);
    expect(simple.body).toBe('Cross-site request refused.\n');
    expect((await addMigrateDown(port, queueName, { host, origin: 'null' })).status).toBe(403);
    const byReferer = await addMigrateDown(port, queueName, {
      host,
      referer: 'http://localhost:8080/page.html',
    });
    expect(byReferer.status).toBe(403);
    expect(await queue?.count()).toBe(0);
  });

  it('accepts a write from its own origin, and from a client that sends none', async () => {
    const { port, queueName } = await start();
    const host = `127.0.0.1:${port}`;
    const own = await addMigrateDown(port, queueName, { host, origin: `http://${host}` });
    expect(own.status).toBe(200);
    const referer = await addMigrateDown(port, queueName, { host, referer: `http://${host}/queues/` });
    expect(referer.status).toBe(200);
    const script = await addMigrateDown(port, queueName, { host });
    expect(script.status).toBe(200);
    expect(await queue?.count()).toBe(3);
  });
});
