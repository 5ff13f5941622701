import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { createProducer } from '../../src/producer/producer.js';
import { type LocalRedis, startLocalRedis } from '../../src/queue/local-redis.js';
import { createThreadEngineRunner, type EngineRunner } from '../../src/worker/engine-runner.js';
import { lockPathOf } from '../../src/worker/file-lock.js';
import { createMigrationWorker } from '../../src/worker/migration-worker.js';
import {
  type CliWorker,
  captureLogger,
  killQuietly,
  sampleDb,
  startCliWorker,
  tempDir,
} from '../queue/helpers.js';

// Each test takes its own Redis away: BullMQ's graceful close alone would wait for it for ever (bullmq#4656).
let redis: LocalRedis | undefined;
let cli: CliWorker | undefined;
// Made before the first test, not while the file is collected: with every test filtered out (-t), no afterAll
// would remove it.
let dir: string;
beforeAll(() => {
  dir = tempDir();
});
afterEach(async () => {
  await killQuietly(cli); // a worker that never stopped (the failure this file looks for) must not outlive it
  cli = undefined;
  await redis?.stop({ hard: true });
  redis = undefined;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The real engine thread, held at the door of each run until `open()`; `entered` resolves when a run arrives. */
function gatedEngine(): EngineRunner & { entered: Promise<void>; open(): void } {
  const engine = createThreadEngineRunner({ busyTimeoutMs: 5000 });
  let enter = () => {};
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    entered,
    open,
    async run(op, input, onProgress) {
      enter();
      await opened;
      return engine.run(op, input, onProgress);
    },
    close: () => engine.close(),
  };
}

describe('a worker whose Redis is away', () => {
  it('closes without waiting for Redis, once the job in hand has finished with its database', async () => {
    redis = await startLocalRedis();
    const queueName = `test-${randomUUID()}`;
    const engine = gatedEngine();
    const { logger } = captureLogger();
    const worker = createMigrationWorker({ redisUrl: redis.url, queueName, roots: [dir], logger, engine });
    const dbPath = sampleDb(dir, 'in-hand');
    const producer = await createProducer({ redisUrl: redis.url, queueName });
    await producer.enqueue('up', [dbPath]);
    await producer.close();
    await engine.entered;
    expect(fs.existsSync(lockPathOf(dbPath))).toBe(true);

    await redis.stop({ hard: true });
    let closed = false;
    const closing = worker.close().then(() => {
      closed = true;
    });
    await sleep(200);
    expect(closed).toBe(false); // the engine has not run yet: close waits for it
    engine.open();
    await closing;

    expect(new Migrator().verify({ dbPath }).status).toBe('verified');
    expect(fs.existsSync(lockPathOf(dbPath))).toBe(false);
    expect(
      fs.readdirSync(path.dirname(dbPath)).filter((name) => /\.backup_\d{8}T\d{9}Z\.db$/.test(name)),
    ).toHaveLength(1);
  });

  it('`gao-migrate worker` exits 0 on SIGTERM', async () => {
    redis = await startLocalRedis();
    const queueName = `test-${randomUUID()}`;
    const child = await startCliWorker({
      REDIS_URL: redis.url,
      GAO_MIGRATE_QUEUE: queueName,
      GAO_MIGRATE_ROOTS: dir,
    });
    cli = child;
    const producer = await createProducer({ redisUrl: redis.url, queueName });
    await producer.waitForJobs(await producer.enqueue('up', [sampleDb(dir, 'before-outage')]));
    await producer.close();
    await redis.stop({ hard: true });
    await child.waitForLog((line) => line.msg === 'redis error', 'the worker to notice');
    child.child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    expect(child.lines.some((line) => line.msg === 'worker stopped')).toBe(true);
  });
});
