import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.js';
import { redisForFile } from '../helpers/redis.js';
import { freshQueueName, type SeededFleet, seedRollout } from './helpers.js';

const ARTIFACTS = path.resolve(import.meta.dirname, '..', '.artifacts');
const AUTH = { user: 'ops', password: 'browser-test-password' };

const redis = redisForFile();
let browser: Browser | undefined;
let dashboard: DashboardServer | undefined;
let fleet: SeededFleet | undefined;

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});
afterEach(async () => {
  await browser?.close();
  await dashboard?.close();
  await fleet?.cleanup();
  browser = undefined;
  dashboard = undefined;
  fleet = undefined;
});

const project = (name: string) => `/projects/${name}/.gao-dev/documents.db`;
const PATHS = {
  completed: ['api-gateway', 'billing', 'checkout', 'search-indexer'].map(project),
  failed: ['bad-legacy-crm'].map(project),
  active: ['hold-notifications'].map(project),
  waiting: ['reporting', 'user-profiles', `weird <b>"name"</b>`].map(project),
  delayed: ['warehouse'].map(project),
};

async function start(options: { readOnly: boolean }) {
  const queueName = freshQueueName();
  fleet = await seedRollout(redis.url, queueName, 'rollout-20260101T000000-browser', PATHS);
  // No automatic reload: a reload in the middle of an assertion would only make the test flaky.
  dashboard = createDashboardServer({
    redisUrl: redis.url,
    queueName,
    port: 0,
    auth: AUTH,
    refreshSeconds: 0,
    ...options,
  });
  const { url } = await dashboard.listen();
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
  const context = await browser.newContext({
    httpCredentials: { username: AUTH.user, password: AUTH.password },
    viewport: { width: 1400, height: 900 },
  });
  return { url, queueName, page: await context.newPage() };
}

describe('dashboard in a headless browser', () => {
  it('shows a rollout with one row per database and saves a screenshot', async () => {
    const { url, page } = await start({ readOnly: true });
    const scriptErrors: string[] = [];
    page.on('pageerror', (error) => scriptErrors.push(error.message));

    const response = await page.goto(`${url}/fleet/rollout-20260101T000000-browser`);
    expect(response?.status()).toBe(200);
    const rows = page.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(10);
    const all = [...PATHS.completed, ...PATHS.failed, ...PATHS.active, ...PATHS.waiting, ...PATHS.delayed];
    const shown = await page.locator('tbody tr td.path:first-child').allTextContents();
    expect(shown.sort()).toEqual(all.sort());
    // The markup in a path is shown as text, not parsed.
    expect(await page.locator('tbody b').count()).toBe(0);
    const failedRow = page.locator('tr[data-state="failed"]');
    await expect.poll(() => failedRow.locator('td.error').textContent()).toContain('database is locked');
    const completedRow = page.locator('tr[data-state="completed"]').first();
    expect(await completedRow.locator('td').nth(2).textContent()).toMatch(
      /documents\.backup_\d{8}T\d+Z\.db$/,
    );
    expect(await page.locator('.bar').getAttribute('aria-valuenow')).toBe('50');
    expect(await page.locator('[data-count="databases"] b').textContent()).toBe('10');
    expect(scriptErrors).toEqual([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-fleet.png'), fullPage: true });

    await page.goto(`${url}/fleet`);
    await expect.poll(() => page.locator('tr[data-rollout]').count()).toBe(1);
    await page.click('a[href="/fleet/rollout-20260101T000000-browser"]');
    await expect.poll(() => page.locator('h1').textContent()).toBe('Rollout rollout-20260101T000000-browser');
  });

  it('renders bull-board for the queue, without retry buttons in read-only mode', async () => {
    const { url, queueName, page } = await start({ readOnly: true });
    await page.goto(`${url}/queues/queue/${encodeURIComponent(queueName)}?status=failed`);
    await page.getByText('database is locked', { exact: false }).first().waitFor({ timeout: 30_000 });
    expect(await page.getByText(queueName).count()).toBeGreaterThan(0);
    expect(await page.getByRole('button', { name: /retry/i }).count()).toBe(0);
    await page.screenshot({
      path: path.join(ARTIFACTS, 'dashboard-bull-board-read-only.png'),
      fullPage: true,
    });
  });

  it('makes no request beyond the dashboard and breaks no rule of its Content-Security-Policy', async () => {
    const { url, queueName, page } = await start({ readOnly: false });
    const requests: string[] = [];
    const refusals: string[] = [];
    const scriptErrors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) refusals.push(message.text());
    });
    page.on('pageerror', (error) => scriptErrors.push(error.message));

    // bull-board's pages (its overview, a queue's failed jobs, a job with its data highlighted), then ours.
    const board = await page.goto(`${url}/queues`);
    expect(board?.headers()['content-security-policy']).toContain("default-src 'self'");
    await page.getByText(queueName).first().waitFor({ timeout: 30_000 });
    await page.goto(`${url}/queues/queue/${encodeURIComponent(queueName)}?status=failed`);
    await page.getByText('database is locked', { exact: false }).first().waitFor({ timeout: 30_000 });
    const failedJob = (await fleet?.queue.getJobs(['failed']))?.[0];
    await page.goto(`${url}/queues/queue/${encodeURIComponent(queueName)}/${failedJob?.id}`);
    await page.getByText('database is locked', { exact: false }).first().waitFor({ timeout: 30_000 });
    await page.goto(`${url}/fleet/rollout-20260101T000000-browser`);
    await page.goto(`${url}/metrics`);
    await page.waitForLoadState('networkidle');

    const origin = new URL(url).origin;
    expect(requests.length).toBeGreaterThan(5);
    expect(requests.filter((request) => new URL(request).origin !== origin)).toEqual([]);
    expect(refusals).toEqual([]);
    expect(scriptErrors).toEqual([]);
  });

  it('shows bull-board retry buttons when not read-only, and a retry from the page goes through', async () => {
    const { url, queueName, page } = await start({ readOnly: false });
    await page.goto(`${url}/queues/queue/${encodeURIComponent(queueName)}?status=failed`);
    await page.getByText('database is locked', { exact: false }).first().waitFor({ timeout: 30_000 });
    const retry = page.getByRole('button', { name: 'Retry all' });
    await retry.waitFor({ timeout: 30_000 });
    // The page's own write (a PUT with its Origin) passes the cross-site check; the held job keeps it waiting.
    const answered = page.waitForResponse((response) => response.request().method() !== 'GET');
    const origin = page.waitForRequest((request) => request.method() !== 'GET');
    await retry.click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    expect((await answered).status()).toBe(200);
    expect(await (await origin).headerValue('origin')).toBe(url);
    await expect
      .poll(() => fleet?.queue.getJobCounts('failed', 'waiting'))
      .toMatchObject({ failed: 0, waiting: 4 });
  });
});
