import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/server.js';
import {
  type FleetRig,
  makeAppliedProject,
  makeBrokenProject,
  makeProject,
  startFleetRig,
} from '../fleet/helpers.js';
import { redisForFile } from '../helpers/redis.js';

describe('dashboard pages of rollouts started with gao-migrate fleet', () => {
  const redis = redisForFile();
  let rig: FleetRig;
  let dashboard: DashboardServer;
  let url: string;

  beforeEach(async () => {
    rig = await startFleetRig(redis.url);
    dashboard = createDashboardServer({ redisUrl: redis.url, queueName: rig.queueName, port: 0 });
    ({ url } = await dashboard.listen());
  });
  afterEach(async () => {
    await dashboard.close();
    await rig.close();
  });

  it('shows the halt reason and the databases a failed canary left cancelled', async () => {
    const bad = makeBrokenProject(rig.root, 'canary');
    const rest = ['r1', 'r2'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [bad, ...rest], canary: 1 });
    await rig.fleet.wait(rolloutId);

    const response = await fetch(`${url}/fleet/${rolloutId}`);
    const html = await response.text();

    expect(response.status).toBe(200);
    expect(html).toContain('Halted.');
    expect(html).toMatch(/data-reason>Canary failed on 1 of 1 database\(s\)/);
    expect(html.match(/data-state="cancelled"/g)).toHaveLength(2);
    expect(html.match(/data-state="failed"/g)).toHaveLength(1);
    expect(html).toMatch(/data-count="cancelled"><i class="cancelled"><\/i><b>2<\/b>/);
  });

  it('shows as cancelled, not failed, the databases workers refused once failures passed --max-failures', async () => {
    const bad = makeBrokenProject(rig.root, 'first');
    const rest = ['m1', 'm2', 'm3'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [bad, ...rest], maxFailures: { count: 0 } });
    await rig.fleet.wait(rolloutId);

    const html = await (await fetch(`${url}/fleet/${rolloutId}`)).text();
    expect(html.match(/data-state="cancelled"/g)).toHaveLength(3);
    expect(html.match(/data-state="failed"/g)).toHaveLength(1);
    expect(html).not.toContain('ROLLOUT_HALTED');
  });

  it('names a failed database "failed" once, and never calls a failed dry run passed', async () => {
    const stateCellOf = async (rolloutId: string, jobId: string | null | undefined) => {
      const html = await (await fetch(`${url}/fleet/${rolloutId}`)).text();
      const row = html.split('<tr ').find((part) => part.startsWith(`data-job-id="${jobId}"`));
      return row?.split('<td>')[1]?.split('</td>')[0];
    };

    // A real run of up that fails on a file that is not a database: the engine's status is "failed" too.
    const applied = await rig.fleet.start({ op: 'up', targets: [makeBrokenProject(rig.root, 'real')] });
    const real = await rig.fleet.wait(applied);
    expect(real.databases[0]?.state).toBe('failed');
    expect(await stateCellOf(applied, real.databases[0]?.jobId)).toBe(
      '<span class="state failed">failed</span>',
    );

    // A preflight's dry run that fails the same way: a failed dry run, not one that passed. The other database's
    // dry run passed (the halt cancelled it), which says what its status ("planned") would.
    const checked = await rig.fleet.start({
      op: 'up',
      targets: [makeBrokenProject(rig.root, 'checked'), makeProject(rig.root, 'fine')],
      preflight: true,
    });
    const dryRuns = await rig.fleet.wait(checked);
    expect(dryRuns.state).toBe('halted');
    expect(await stateCellOf(checked, dryRuns.databases[0]?.jobId)).toBe(
      '<span class="state failed">failed</span><span class="tag">dry run</span>',
    );
    expect(await stateCellOf(checked, dryRuns.databases[1]?.jobId)).toBe(
      '<span class="state cancelled">cancelled</span><span class="tag">dry run passed</span>',
    );
  });

  it('tags each database with what its down discarded, and a dry run with what it would', async () => {
    const targets = [makeAppliedProject(rig.root, 'kept'), makeAppliedProject(rig.root, 'used', 1)];
    const tagsOf = async (rolloutId: string) => {
      const html = await (await fetch(`${url}/fleet/${rolloutId}`)).text();
      return html.match(/data-job-id="[^"]*"|<span class="tag" data-discarded>[^<]*<\/span>/g);
    };

    // A preflight that a broken database blocks: each row is a dry run, saying what it would have dropped.
    const blocked = await rig.fleet.start({
      op: 'down',
      targets: [...targets, makeBrokenProject(rig.root, 'broken')],
      preflight: true,
    });
    const dryRuns = await rig.fleet.wait(blocked);
    expect(dryRuns.state).toBe('halted');
    const usedDryRun = dryRuns.databases[1]?.jobId;
    expect(await tagsOf(blocked)).toEqual(
      expect.arrayContaining([
        `data-job-id="${usedDryRun}"`,
        '<span class="tag" data-discarded>would discard: 1 row of learning_applications; the metrics of 1 learning (values other than the defaults)</span>',
      ]),
    );

    const rolloutId = await rig.fleet.start({ op: 'down', targets });
    const report = await rig.fleet.wait(rolloutId);
    const tags = await tagsOf(rolloutId);
    // The tag sits in the row of the database that held the row, and in no other.
    const usedJob = report.databases[1]?.jobId;
    const at = tags?.indexOf(`data-job-id="${usedJob}"`) ?? -1;
    expect(at).toBeGreaterThanOrEqual(0);
    expect(tags?.[at + 1]).toBe(
      '<span class="tag" data-discarded>discarded: 1 row of learning_applications; the metrics of 1 learning (values other than the defaults)</span>',
    );
    expect(tags?.filter((tag) => tag.includes('data-discarded'))).toHaveLength(1);
  });
});

describe('dashboard page of a rollout whose database job was retried', () => {
  const redis = redisForFile();
  let rig: FleetRig;
  let dashboard: DashboardServer;
  let url: string;

  beforeEach(async () => {
    rig = await startFleetRig(redis.url, { busyTimeoutMs: 100 });
    dashboard = createDashboardServer({ redisUrl: redis.url, queueName: rig.queueName, port: 0 });
    ({ url } = await dashboard.listen());
  });
  afterEach(async () => {
    await dashboard.close();
    await rig.close();
  });

  it('names the backups earlier attempts kept under the last one', async () => {
    const dbPath = makeProject(rig.root, 'busy');
    // A reader's open transaction keeps each attempt's COMMIT waiting (DB_LOCKED, retried) after its backup.
    const reader = new Database(dbPath);
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM learning_index').get();
      const rolloutId = await rig.fleet.start({ op: 'up', targets: [dbPath], attempts: 2 });
      const report = await rig.fleet.wait(rolloutId);
      const [earlier] = report.databases[0]?.earlierBackups ?? [];
      expect(earlier).toEqual(expect.any(String));

      const html = await (await fetch(`${url}/fleet/${rolloutId}`)).text();
      const shown = html.match(/<div class="earlier" data-earlier-backups>([^<]|<wbr>)*<\/div>/g);
      expect(shown).toEqual([
        `<div class="earlier" data-earlier-backups>earlier attempts kept: ${String(earlier).replace(/\//g, '/<wbr>')}</div>`,
      ]);
    } finally {
      reader.close();
    }
  });
});
