import fs from 'node:fs';
import { Queue } from 'bullmq';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { Migrator } from '../../src/engine/index.js';
import type { MigrationJobResult } from '../../src/queue/contract.js';
import { createMigrationWorker, type MigrationWorker } from '../../src/worker/migration-worker.js';
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.js';
import { redisForFile } from '../helpers/redis.js';
import { captureLogger, sampleDb, tempDir, waitFor } from '../queue/helpers.js';
import { connectionFor, freshQueueName } from './helpers.js';

/**
 * bull-board's job editors (Add job, Update data, Duplicate) are CodeMirror editors, which style themselves at
 * run time: they are driven here in a real Chromium under the dashboard's Content-Security-Policy.
 */

const redis = redisForFile();
let browser: Browser | undefined;
let dashboard: DashboardServer | undefined;
let worker: MigrationWorker | undefined;
let queue: Queue | undefined;
let dir: string | undefined;

afterEach(async () => {
  await browser?.close();
  await dashboard?.close();
  await worker?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  browser = undefined;
  dashboard = undefined;
  worker = undefined;
  queue = undefined;
  dir = undefined;
});

/** What the page did that the dashboard promises it never does: leave its origin, break its CSP, throw. */
interface Watched {
  offOrigin: string[];
  refusals: string[];
  scriptErrors: string[];
}

async function openQueuePage(queueName: string, status: string): Promise<{ page: Page; watched: Watched }> {
  dashboard = createDashboardServer({ redisUrl: redis.url, queueName, port: 0, refreshSeconds: 0 });
  const { url } = await dashboard.listen();
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const watched: Watched = { offOrigin: [], refusals: [], scriptErrors: [] };
  const origin = new URL(url).origin;
  page.on('request', (request) => {
    if (new URL(request.url()).origin !== origin) watched.offOrigin.push(request.url());
  });
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) watched.refusals.push(message.text());
  });
  page.on('pageerror', (error) => watched.scriptErrors.push(error.message));
  // Also the violations the browser reports as events only (a blocked style or eval in a library's code).
  await page.exposeFunction('reportCspViolation', (text: string) => watched.refusals.push(text));
  // A string: the tests are compiled without the DOM's types.
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (event) =>
      window.reportCspViolation(event.violatedDirective + ' blocked ' + event.blockedURI));`,
  });
  await page.goto(`${url}/queues/queue/${encodeURIComponent(queueName)}?status=${status}`);
  return { page, watched };
}

/**
 * Replaces what a dialog's first JSON editor holds by typing, as a user does (the editor closes brackets itself),
 * then waits for the form to hold it too: bull-board copies the editor's text into its form a moment later
 * (debounced, with or without a CSP), and a click on submit before that would send the text as it was.
 */
async function typeJson(page: Page, dialog: Locator, value: unknown): Promise<void> {
  await dialog.locator('.cm-content').first().click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(JSON.stringify(value));
  const form = dialog.locator('input[type="hidden"]').first();
  await expect.poll(async () => JSON.parse((await form.inputValue()) || 'null')).toEqual(value);
}

async function jobsOf(target: Queue) {
  return target.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
}

describe("bull-board's job editors under the dashboard's Content-Security-Policy", () => {
  it('adds a verify job from the Add job dialog, with its data in Redis, and a worker completes it', async () => {
    dir = tempDir('gao-migrate-dashboard-');
    const dbPath = sampleDb(dir, 'alpha');
    expect(new Migrator().up({ dbPath }).status).toBe('applied');
    const queueName = freshQueueName();
    queue = new Queue(queueName, { connection: connectionFor(redis.url) });
    worker = createMigrationWorker({
      redisUrl: redis.url,
      queueName,
      roots: [dir],
      logger: captureLogger().logger,
    });
    const { page, watched } = await openQueuePage(queueName, 'latest');

    await page
      .locator('button[aria-haspopup="menu"]')
      .filter({ has: page.locator('svg.lucide-ellipsis-vertical') })
      .click();
    await page.getByRole('menuitem', { name: 'Add job' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add job' });
    await dialog.waitFor();
    await dialog.getByLabel('Job name').fill('verify');
    // The first editor is the job's data, the second its options.
    await typeJson(page, dialog, { dbPath });
    await dialog.getByRole('button', { name: 'Add', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });

    const [job] = await waitFor(async () => {
      const jobs = await jobsOf(queue as Queue);
      return jobs.length > 0 ? jobs : undefined;
    }, 'the job added from the dialog');
    expect(job?.name).toBe('verify');
    expect(job?.data).toEqual({ dbPath });
    const finished = await waitFor(async () => {
      const state = await queue?.getJobState(job?.id as string);
      return state === 'completed' || state === 'failed' ? queue?.getJob(job?.id as string) : undefined;
    }, 'the worker to finish the job');
    expect(finished.failedReason).toBeUndefined();
    expect(finished.returnvalue as MigrationJobResult).toMatchObject({ ok: true, status: 'verified' });
    await page.getByText('verified').first().waitFor();

    expect(watched).toEqual({ offOrigin: [], refusals: [], scriptErrors: [] });
  });

  it("updates a delayed job's data and duplicates it from the job's editors", async () => {
    const queueName = freshQueueName();
    queue = new Queue(queueName, { connection: connectionFor(redis.url) });
    const first = '/projects/alpha/.gao-dev/documents.db';
    const second = '/projects/beta/.gao-dev/documents.db';
    const delayed = await queue.add('verify', { dbPath: first }, { delay: 3_600_000 });
    const { page, watched } = await openQueuePage(queueName, 'delayed');

    await page.locator('button:has(svg.lucide-pencil)').click();
    const update = page.getByRole('dialog', { name: 'Update job data' });
    await typeJson(page, update, { dbPath: second });
    await update.getByRole('button', { name: 'Update', exact: true }).click();
    await update.waitFor({ state: 'hidden' });
    await expect
      .poll(async () => (await queue?.getJob(delayed.id as string))?.data)
      .toEqual({ dbPath: second });

    await page.locator('button:has(svg.lucide-files)').click();
    const duplicate = page.getByRole('dialog', { name: 'Duplicate job' });
    await duplicate.getByRole('button', { name: 'Duplicate', exact: true }).click();
    await duplicate.waitFor({ state: 'hidden' });
    await expect.poll(async () => (await jobsOf(queue as Queue)).length).toBe(2);
    const copy = (await jobsOf(queue)).find((job) => job.id !== delayed.id);
    expect(copy).toMatchObject({ name: 'verify', data: { dbPath: second } });

    expect(watched).toEqual({ offOrigin: [], refusals: [], scriptErrors: [] });
  });
});
