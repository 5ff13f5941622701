import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/server.js';
import { type FleetRig, makeBrokenProject, makeProject, startFleetRig } from '../fleet/helpers.js';
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
});
