import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { redisForFile } from '../helpers/redis.js';
import { captureLogger } from '../queue/helpers.js';
import { freshQueueName, parseMetrics, type SeededFleet, seedRollout, waitForCounts } from './helpers.js';

const redis = redisForFile();
let dashboard: DashboardServer | undefined;
let fleet: SeededFleet | undefined;

afterEach(async () => {
  await dashboard?.close();
  await fleet?.cleanup();
  dashboard = undefined;
  fleet = undefined;
});

const PATHS = {
  completed: ['/projects/alpha/.gao-dev/documents.db', '/projects/beta/.gao-dev/documents.db'],
  failed: ['/projects/bad-gamma/.gao-dev/documents.db'],
  active: ['/projects/hold-delta/.gao-dev/documents.db'],
  waiting: ['/projects/epsilon/.gao-dev/documents.db', '/projects/zeta/.gao-dev/documents.db'],
  delayed: ['/projects/eta/.gao-dev/documents.db'],
};

async function start(queueName: string, extra: { readOnly?: boolean } = {}) {
  dashboard = createDashboardServer({ redisUrl: redis.url, queueName, port: 0, ...extra });
  return (await dashboard.listen()).url;
}

describe('dashboard routes', () => {
  it('answers /healthz with redis up', async () => {
    const url = await start(freshQueueName());
    const response = await fetch(`${url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, redis: 'up' });
  });

  it('shows a queue without making it: its pages leave no key in Redis for a queue name nothing used', async () => {
    const queueName = freshQueueName();
    const url = await start(queueName);
    for (const page of ['/fleet', '/fleet/rollout-1', '/metrics', '/queues/api/queues']) {
      expect((await fetch(`${url}${page}`)).status).toBeLessThan(500);
    }
    const keys = new Redis(redis.url);
    try {
      expect(await keys.keys(`*${queueName}*`)).toEqual([]);
    } finally {
      await keys.quit();
    }
  });

  it('listens on an IPv6 loopback address written as in a URL ([::1])', async () => {
    dashboard = createDashboardServer({
      redisUrl: redis.url,
      queueName: freshQueueName(),
      host: '[::1]',
      port: 0,
    });
    const { url, host } = await dashboard.listen();
    expect(host).toBe('::1');
    expect(url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('answers /healthz with 503 when Redis does not answer', async () => {
    dashboard = createDashboardServer({
      redisUrl: 'redis://:s3cret-pass@127.0.0.1:1',
      queueName: freshQueueName(),
      port: 0,
      healthTimeoutMs: 500,
      redisTimeoutMs: 1000,
    });
    const { url } = await dashboard.listen();
    const response = await fetch(`${url}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ ok: false, redis: 'down' });
    const fleetPage = await fetch(`${url}/fleet`);
    expect(fleetPage.status).toBe(503);
    expect(await fleetPage.text()).not.toContain('s3cret-pass');
  });

  it('refuses to listen when Redis refuses the database number, instead of showing database 0', async () => {
    const url = new URL(redis.url);
    url.pathname = '/9999';
    dashboard = createDashboardServer({ redisUrl: url.href, queueName: freshQueueName(), port: 0 });
    await expect(dashboard.listen()).rejects.toMatchObject({
      name: 'DashboardError',
      code: 'REDIS_REFUSED',
      message: `Redis at ${url.href} refused the connection's setup (ERR DB index is out of range); check the database number in REDIS_URL.`,
    });
  });

  it('reports job counts and rollout databases in /metrics that match the queue', async () => {
    const queueName = freshQueueName();
    fleet = await seedRollout(redis.url, queueName, 'rollout-metrics', PATHS);
    const url = await start(queueName);
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('# TYPE gao_migrate_jobs gauge');
    const samples = parseMetrics(text);
    const counts = await fleet.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
    expect(counts).toMatchObject({ waiting: 2, active: 1, completed: 2, failed: 1, delayed: 1 });
    for (const state of ['waiting', 'active', 'completed', 'failed', 'delayed'] as const) {
      const count = counts[state];
      expect(samples.get(`gao_migrate_jobs{queue="${queueName}",state="${state}"}`)).toBe(count);
    }
    const rollout = (state: string) =>
      samples.get(
        `gao_migrate_rollout_databases{queue="${queueName}",rollout="rollout-metrics",state="${state}"}`,
      );
    expect(rollout('completed')).toBe(2);
    expect(rollout('failed')).toBe(1);
    expect(rollout('active')).toBe(1);
    expect(rollout('waiting')).toBe(2);
    expect(rollout('delayed')).toBe(1);
    expect(
      samples.get(`gao_migrate_rollout_progress_ratio{queue="${queueName}",rollout="rollout-metrics"}`),
    ).toBe(3 / 7);
  });

  it('shows one row per database of a rollout with state, backup, duration and error', async () => {
    const queueName = freshQueueName();
    fleet = await seedRollout(redis.url, queueName, 'rollout-rows', PATHS);
    // A job of another rollout and a job of none must not appear.
    await fleet.queue.add('verify', {
      dbPath: '/projects/other/.gao-dev/documents.db',
      rolloutId: 'rollout-other',
    });
    await fleet.queue.add('verify', { dbPath: '/projects/loose/.gao-dev/documents.db' });
    const url = await start(queueName);

    const response = await fetch(`${url}/fleet/rollout-rows`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = (await response.text()).replaceAll('<wbr>', '');
    const rows = [
      ...html.matchAll(/<tr data-job-id="[^"]*" data-state="(\w+)">\s*<td class="path">([^<]*)<\/td>/g),
    ];
    const byPath = new Map(rows.map((match) => [match[2], match[1]]));
    expect(byPath).toEqual(
      new Map([
        ...PATHS.completed.map((p) => [p, 'completed'] as const),
        ...PATHS.failed.map((p) => [p, 'failed'] as const),
        ...PATHS.active.map((p) => [p, 'active'] as const),
        ...PATHS.waiting.map((p) => [p, 'waiting'] as const),
        ...PATHS.delayed.map((p) => [p, 'delayed'] as const),
      ]),
    );
    expect(html).toContain('/projects/alpha/.gao-dev/documents.backup_20260101T000000000Z.db');
    expect(html).toContain('database is locked: /projects/bad-gamma/.gao-dev/documents.db');
    expect(html).toMatch(/data-count="databases"><b>7<\/b>/);
    expect(html).toMatch(/data-count="completed"><i class="completed"><\/i><b>2<\/b>/);
    expect(html).toMatch(/data-count="failed"><i class="failed"><\/i><b>1<\/b>/);
    expect(html).toContain('aria-valuenow="42"'); // 3 of 7 finished
    expect(html).not.toContain('/projects/other/');
    expect(html).not.toContain('/projects/loose/');
    // Still running, so the page reloads itself.
    expect(html).toContain('<meta http-equiv="refresh" content="5">');

    const list = await (await fetch(`${url}/fleet`)).text();
    expect(list).toContain('href="/fleet/rollout-rows"');
    expect(list).toContain('href="/fleet/rollout-other"');
    expect((await fetch(`${url}/fleet/rollout-missing`)).status).toBe(404);
  });

  it('keeps the real run over the dry run of the same database', async () => {
    const queueName = freshQueueName();
    fleet = await seedRollout(redis.url, queueName, 'rollout-stages', {
      completed: ['/projects/one/documents.db'],
      failed: [],
      active: [],
      waiting: [],
      delayed: [],
    });
    await fleet.queue.add('migrate-up', {
      dbPath: '/projects/one/documents.db',
      dryRun: true,
      rolloutId: 'rollout-stages',
    });
    const url = await start(queueName);
    const html = await (await fetch(`${url}/fleet/rollout-stages`)).text();
    expect(html.match(/<tr data-job-id/g)).toHaveLength(1);
    expect(html).toContain('data-state="completed"');
  });

  it('counts a database whose dry run passed as still waiting', async () => {
    const queueName = freshQueueName();
    fleet = await seedRollout(redis.url, queueName, 'rollout-preflight', {
      completed: [],
      failed: [],
      active: [],
      waiting: [],
      delayed: [],
    });
    const job = await fleet.queue.add('migrate-up', {
      dbPath: '/projects/checked/documents.db',
      dryRun: true,
      rolloutId: 'rollout-preflight',
    });
    await waitForCounts(fleet.queue, { completed: 1 });
    expect(await job.getState()).toBe('completed');
    const url = await start(queueName);
    const html = await (await fetch(`${url}/fleet/rollout-preflight`)).text();
    expect(html).toContain('data-state="waiting"');
    expect(html).toContain('dry run passed');
    expect(html).toMatch(/data-count="completed"><i class="completed"><\/i><b>0<\/b>/);
  });

  it("serves bull-board's page with no link to another origin (Google Fonts) and under a same-origin CSP", async () => {
    const url = await start(freshQueueName());
    for (const route of ['/queues', '/queues/queue/anything?status=failed']) {
      const response = await fetch(`${url}${route}`);
      const html = await response.text();
      expect(response.status).toBe(200);
      expect(html).toContain('<script defer src="static/js/main.');
      expect(html).not.toMatch(/googleapis|gstatic/);
      expect(html).not.toMatch(/(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i);
      const policy = response.headers.get('content-security-policy') ?? '';
      expect(policy).toContain("default-src 'self'");
      expect(policy).not.toMatch(/https?:|\*/);
    }
  });

  it('escapes a malicious database path and rollout id everywhere', async () => {
    const queueName = freshQueueName();
    const evilPath = `/projects/<script>alert("x")</script>/"><img src=x onerror=alert(1)>'.db`;
    const evilRollout = `<b>r"1'</b>`;
    fleet = await seedRollout(redis.url, queueName, evilRollout, {
      completed: [],
      failed: [`/projects/bad/<script>alert(2)</script>.db`],
      active: [],
      waiting: [evilPath],
      delayed: [],
    });
    const url = await start(queueName);
    const list = await (await fetch(`${url}/fleet`)).text();
    expect(list).not.toContain('<b>r"1');
    expect(list).toContain('&lt;b&gt;r&quot;1&#39;&lt;/b&gt;');
    expect(list).toContain(`href="/fleet/${encodeURIComponent(evilRollout).replace(/'/g, '&#39;')}"`);

    const page = (await (await fetch(`${url}/fleet/${encodeURIComponent(evilRollout)}`)).text()).replaceAll(
      '<wbr>',
      '',
    );
    expect(page).not.toMatch(
      /<(?!!doctype|\/?(?:wbr|span|b|i|td|tr|th|table|thead|tbody|div|h1|p|a|main|header|body|html|head|meta|title|style)\b)/,
    );
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(page).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&#39;.db');
    expect(page).toContain('database is locked: /projects/bad/&lt;script&gt;alert(2)&lt;/script&gt;.db');

    const missing = await fetch(`${url}/fleet/${encodeURIComponent('<svg onload=alert(1)>')}`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('&lt;svg onload=alert(1)&gt;');

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('rollout="<b>r\\"1\'</b>"');
  });

  it('shows a path, error or rollout id with a newline or a bidi override as a JSON string, as status does', async () => {
    const queueName = freshQueueName();
    const newlinePath = '/projects/a\nb/.gao-dev/documents.db';
    // U+202E shows what follows it reversed: this path would read as /projects/bd.stnemucod/...
    const reversingPath = '/projects/bad-\u202edb.stnemucod/.gao-dev/documents.db';
    const rolloutId = 'r\u202e1';
    fleet = await seedRollout(redis.url, queueName, rolloutId, {
      completed: [newlinePath],
      failed: [reversingPath],
      active: [],
      waiting: [],
      delayed: [],
    });
    const url = await start(queueName);
    const list = await (await fetch(`${url}/fleet`)).text();
    expect(list).toContain('>&quot;r\\u202e1&quot;</a>');
    const page = (await (await fetch(`${url}/fleet/${encodeURIComponent(rolloutId)}`)).text()).replaceAll(
      '<wbr>',
      '',
    );
    expect(page).not.toContain('\u202e');
    expect(page).toContain('<td class="path">&quot;/projects/a\\nb/.gao-dev/documents.db&quot;</td>');
    expect(page).toContain('&quot;/projects/bad-\\u202edb.stnemucod/.gao-dev/documents.db&quot;');
    expect(page).toContain(
      '&quot;database is locked: /projects/bad-\\u202edb.stnemucod/.gao-dev/documents.db&quot;',
    );
    expect(page).toContain('<h1>Rollout &quot;r\\u202e1&quot;</h1>');
  });

  it('serves bull-board for the queue at /queues', async () => {
    const queueName = freshQueueName();
    fleet = await seedRollout(redis.url, queueName, 'rollout-board', {
      completed: ['/projects/board/documents.db'],
      failed: [],
      active: [],
      waiting: [],
      delayed: [],
    });
    const url = await start(queueName);
    const page = await fetch(`${url}/queues`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root"');
    const api = await fetch(`${url}/queues/api/queues?activeQueue=${queueName}&status=completed&page=1`);
    expect(api.status).toBe(200);
    const body = (await api.json()) as {
      queues: { name: string; readOnlyMode: boolean; jobs: { returnValue: { backupPath: string } }[] }[];
    };
    const queue = body.queues.find((entry) => entry.name === queueName);
    expect(queue?.readOnlyMode).toBe(false);
    expect(queue?.jobs[0]?.returnValue.backupPath).toBe(
      '/projects/board/documents.backup_20260101T000000000Z.db',
    );
    expect(JSON.stringify(body)).not.toContain('s3cret');
  });

  it('closes right after its first request without leaving a rejection behind', async () => {
    const rejections: unknown[] = [];
    const collect = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', collect);
    try {
      // BullMQ's queue used to fail its still-starting connection after close (about 1 run in 3 of this).
      for (let round = 0; round < 10; round++) {
        const url = await start(freshQueueName());
        expect((await fetch(url, { redirect: 'manual' })).status).toBe(302);
        await dashboard?.close();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      process.off('unhandledRejection', collect);
    }
    expect(rejections).toEqual([]);
  });

  it('answers a malformed rollout id with 400, not an internal error, and logs it below error level', async () => {
    const { logger, lines } = captureLogger();
    dashboard = createDashboardServer({ redisUrl: redis.url, queueName: freshQueueName(), port: 0, logger });
    const { url } = await dashboard.listen();
    const response = await fetch(`${url}/fleet/%E0%A4%A`);
    expect(response.status).toBe(400);
    expect(await response.text()).toBe('Bad Request.\n');
    const logged = lines.find((line) => line.msg === 'dashboard refused a request');
    expect(logged).toMatchObject({ level: 30, status: 400 });
    expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
  });

  it('redirects / to the fleet page', async () => {
    const url = await start(freshQueueName());
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/fleet');
  });
});
