import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { redisForRun, startInProcessWorkers } from '../../src/cli/local-stack.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { answersPing, freePort } from '../../src/queue/local-redis.js';
import { filesIn, makeProject } from '../fleet/helpers.js';
import { tempDir } from '../helpers/sqlite.js';

const silent = pino({ level: 'silent' });

describe('Redis and workers for a run on a machine without a configured Redis', () => {
  it('uses REDIS_URL when it is set, without probing', async () => {
    const redis = await redisForRun(silent, { REDIS_URL: 'redis://example.invalid:6380' });
    expect(redis).toMatchObject({ url: 'redis://example.invalid:6380', private: false });
  });

  it('starts a private redis-server when nothing answers, runs a rollout with in-process workers, then stops it', async () => {
    const nobody = await freePort();
    const redis = await redisForRun(silent, { PATH: process.env.PATH }, nobody);
    expect(redis.private).toBe(true);
    const port = Number(new URL(redis.url).port);
    expect(await answersPing(port)).toBe(true);

    const root = tempDir();
    const targets = ['one', 'two'].map((name) => makeProject(root, name));
    const queueName = 'local-stack-test';
    const workers = startInProcessWorkers({ redisUrl: redis.url, queueName, targets, logger: silent });
    const fleet = createFleetClient({ connection: connectionOptionsFromUrl(redis.url), queueName });
    try {
      const report = await fleet.wait(await fleet.start({ op: 'up', targets }));
      expect(report.counts).toMatchObject({ total: 2, done: 2 });
      expect(filesIn(root).filter((name) => name.includes('.backup_'))).toHaveLength(2);
    } finally {
      await fleet.close();
      await workers.close();
      await redis.stop();
    }
    expect(await answersPing(port)).toBe(false);
  });

  it('says how to get Redis when none is configured, none answers and none is installed', async () => {
    const nobody = await freePort();
    await expect(redisForRun(silent, { PATH: tempDir() }, nobody)).rejects.toThrow(
      /no Redis answers on 127\.0\.0\.1:\d+\. Install Redis \(Debian\/Ubuntu: sudo apt-get install redis-server/,
    );
  });
});
