import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/producer/producer.js';
import { createMigrationWorker } from '../../src/worker/migration-worker.js';
import { redisForFile } from '../helpers/redis.js';
import { captureLogger, sampleDb, tempDir } from '../queue/helpers.js';

const redis = redisForFile({ private: true });
// Made before the first test, not while the file is collected: with every test filtered out (-t), no afterAll
// would remove it.
let dir: string;
beforeAll(() => {
  dir = tempDir();
});

afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('worker and a Redis restart', () => {
  it('reconnects after Redis comes back (empty) and processes jobs added afterwards', async () => {
    const server = redis.server;
    if (!server) throw new Error('this test needs a private redis-server');
    const queueName = `test-${randomUUID()}`;
    const { logger } = captureLogger();
    const worker = createMigrationWorker({ redisUrl: redis.url, queueName, roots: [dir], logger });
    try {
      const first = await createProducer({ redisUrl: redis.url, queueName });
      const before = await first.waitForJobs(await first.enqueue('up', [sampleDb(dir, 'before')]));
      expect(before[0]?.result?.status).toBe('applied');
      await first.close();

      await server.restart();

      const second = await createProducer({ redisUrl: redis.url, queueName, connectTimeoutMs: 10_000 });
      try {
        const jobs = await second.enqueue('up', [sampleDb(dir, 'after')]);
        const after = await second.waitForJobs(jobs, { timeoutMs: 50_000 });
        expect(after[0]?.state).toBe('completed');
        expect(after[0]?.result?.status).toBe('applied');
      } finally {
        await second.close();
      }
    } finally {
      await worker.close();
    }
  });
});
