import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/server.js';
import { createFleetClient, type FleetClient } from '../../src/fleet/client.js';
import { type RolloutController, startRolloutController } from '../../src/fleet/controller.js';
import type { RolloutReport } from '../../src/fleet/rollout.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { makeBrokenProject, makeProject, startFleetRig } from '../fleet/helpers.js';
import { redisForFile } from '../helpers/redis.js';
import { freshQueueName, parseMetrics } from './helpers.js';

const redis = redisForFile();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startDashboard(queueName: string): Promise<string> {
  const dashboard: DashboardServer = createDashboardServer({ redisUrl: redis.url, queueName, port: 0 });
  cleanups.push(() => dashboard.close());
  return (await dashboard.listen()).url;
}

/** What the rollout page, the rollout list and /metrics say about one rollout, in `status --json`'s terms. */
async function dashboardNumbers(url: string, queueName: string, rolloutId: string) {
  const page = await (await fetch(`${url}/fleet/${rolloutId}`)).text();
  const chips = new Map(
    [...page.matchAll(/data-count="([\w-]+)">(?:<i class="[\w-]+"><\/i>)?<b>(\d+)<\/b>/g)].map(
      (match) => [match[1], Number(match[2])] as const,
    ),
  );
  const chip = (name: string) => chips.get(name) ?? Number.NaN;
  const list = await (await fetch(`${url}/fleet`)).text();
  const listRow = new RegExp(`<tr data-rollout="${rolloutId}">([\\s\\S]*?)</tr>`).exec(list)?.[1] ?? '';
  const [databases, completed, failed, cancelled, pending, progress] = [
    ...listRow.matchAll(/<td class="num">(\d+)%?<\/td>/g),
  ].map((match) => Number(match[1]));
  const listState = /<td data-rollout-state>([\w-]+)<\/td>/.exec(listRow)?.[1];
  const metrics = parseMetrics(await (await fetch(`${url}/metrics`)).text());
  const series = (state: string) =>
    metrics.get(
      `gao_migrate_rollout_databases{queue="${queueName}",rollout="${rolloutId}",state="${state}"}`,
    );
  return {
    page: {
      total: chip('databases'),
      done: chip('completed'),
      failed: chip('failed'),
      active: chip('active'),
      waiting: chip('waiting') + chip('delayed'),
      cancelled: chip('cancelled'),
      'not-started': chip('not-started'),
      percent: Number(/aria-valuenow="(\d+)"/.exec(page)?.[1]),
      refreshes: page.includes('http-equiv="refresh"'),
      statusLine: /<p class="sub">([^<]*)<\/p>/.exec(page)?.[1],
    },
    list: {
      state: listState,
      databases,
      completed,
      failed,
      cancelled,
      pending,
      progress,
      refreshes: list.includes('http-equiv="refresh"'),
    },
    metrics: {
      done: series('completed'),
      failed: series('failed'),
      active: series('active'),
      waiting: (series('waiting') ?? Number.NaN) + (series('delayed') ?? Number.NaN),
      cancelled: series('cancelled'),
      'not-started': series('not-started'),
      ratio: metrics.get(`gao_migrate_rollout_progress_ratio{queue="${queueName}",rollout="${rolloutId}"}`),
    },
  };
}

/** The dashboard's numbers must be those of `gao-migrate status ROLLOUT --json` (the same report). */
async function expectDashboardToAgree(url: string, queueName: string, report: RolloutReport) {
  const shown = await dashboardNumbers(url, queueName, report.rolloutId);
  const { total, done, failed, active, waiting, cancelled } = report.counts;
  const notStarted = report.counts['not-started'];
  const percent = Math.floor(((done + failed) * 100) / total);
  const running = report.state === 'running' || report.state === 'waiting';
  expect(shown.page).toMatchObject({ total, done, failed, active, waiting, cancelled, percent });
  expect(shown.page['not-started']).toBe(notStarted);
  expect(shown.page.refreshes).toBe(running);
  expect(shown.list).toEqual({
    state: report.state,
    databases: total,
    completed: done,
    failed,
    cancelled,
    pending: waiting + active + notStarted,
    progress: percent,
    refreshes: running,
  });
  expect(shown.metrics).toEqual({
    done,
    failed,
    active,
    waiting,
    cancelled,
    'not-started': notStarted,
    ratio: (done + failed) / total,
  });
  return shown;
}

describe('dashboard numbers of a gao-migrate fleet rollout agree with gao-migrate status', () => {
  it('shows a rollout its preflight halted as halted, its passed dry runs cancelled', async () => {
    const rig = await startFleetRig(redis.url);
    cleanups.push(() => rig.close());
    const url = await startDashboard(rig.queueName);
    const good = ['a', 'b', 'c'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({
      op: 'up',
      targets: [...good, makeBrokenProject(rig.root, 'garbage')],
      preflight: true,
    });
    const report = await rig.fleet.wait(rolloutId);
    expect(report).toMatchObject({
      state: 'halted',
      counts: { done: 0, failed: 1, cancelled: 3, waiting: 0 },
    });

    const shown = await expectDashboardToAgree(url, rig.queueName, report);
    expect(shown.page.statusLine).toBe('Halted.');
  });

  it('lists a started rollout no worker has picked up, every database not started', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-dash-'));
    const queueName = freshQueueName();
    const fleet: FleetClient = createFleetClient({
      connection: connectionOptionsFromUrl(redis.url),
      queueName,
    });
    cleanups.push(async () => {
      await fleet.close();
      fs.rmSync(root, { recursive: true, force: true });
    });
    const url = await startDashboard(queueName);
    const targets = ['a', 'b', 'c', 'd'].map((name) => makeProject(root, name));
    const rolloutId = await fleet.start({ op: 'up', targets });
    const report = await fleet.report(rolloutId);
    expect(report).toMatchObject({ state: 'waiting', counts: { total: 4, 'not-started': 4 } });

    const shown = await expectDashboardToAgree(url, queueName, report as RolloutReport);
    expect(shown.page.statusLine).toBe('Waiting for a worker to start it; this page reloads every 5 s.');
  });

  it('counts the databases behind a canary still in progress', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-dash-'));
    const queueName = freshQueueName();
    const connection = connectionOptionsFromUrl(redis.url);
    // A controller but no migration worker: the canary's job is added and waits there.
    const controller: RolloutController = startRolloutController({ connection, queueName, pollMs: 50 });
    const fleet = createFleetClient({ connection, queueName });
    cleanups.push(async () => {
      await Promise.all([fleet.close(), controller.close()]);
      fs.rmSync(root, { recursive: true, force: true });
    });
    const url = await startDashboard(queueName);
    const targets = ['a', 'b', 'c', 'd'].map((name) => makeProject(root, name));
    const rolloutId = await fleet.start({ op: 'up', targets, canary: 1 });
    let report = await fleet.report(rolloutId);
    for (let tries = 0; report?.counts.waiting !== 1 && tries < 600; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      report = await fleet.report(rolloutId);
    }
    expect(report).toMatchObject({ state: 'running', counts: { waiting: 1, 'not-started': 3 } });

    const shown = await expectDashboardToAgree(url, queueName, report as RolloutReport);
    expect(shown.page.statusLine).toBe('Running; this page reloads every 5 s.');
  });

  it('counts the databases a failed canary cancelled in the progress, list and metrics', async () => {
    const rig = await startFleetRig(redis.url);
    cleanups.push(() => rig.close());
    const url = await startDashboard(rig.queueName);
    const rest = ['r1', 'r2', 'r3'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({
      op: 'up',
      targets: [makeBrokenProject(rig.root, 'canary'), ...rest],
      canary: 1,
    });
    const report = await rig.fleet.wait(rolloutId);
    expect(report).toMatchObject({ state: 'halted', counts: { total: 4, failed: 1, cancelled: 3 } });

    const shown = await expectDashboardToAgree(url, rig.queueName, report);
    expect(shown.page.percent).toBe(25);
  });
});
