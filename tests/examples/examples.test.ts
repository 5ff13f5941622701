import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { runNodeAsync } from '../helpers/cli-async.js';
import { redisForFile } from '../helpers/redis.js';
import { fileSha256, sampleDb } from '../helpers/sqlite.js';
import { waitFor } from '../queue/helpers.js';

/** An example as a user runs it: `node examples/<name>`, importing the package by its name (`gao-migrate/engine`). */
const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));

const redis = redisForFile();
const queues: string[] = [];

afterEach(async () => {
  for (const name of queues.splice(0)) {
    const queue = new Queue(name, { connection: connectionOptionsFromUrl(redis.url) });
    await queue.obliterate({ force: true });
    await queue.close();
  }
});

describe('examples/', () => {
  it('migrate-one-database.mjs applies 006 with a backup, verifies it, and says a second run had nothing to do', async () => {
    const dbPath = sampleDb();
    const first = await runNodeAsync(example('migrate-one-database.mjs'), [dbPath]);
    expect(first.code).toBe(0);
    const [upLine, verifyLine] = first.stdout.trim().split('\n');
    const backup = upLine?.match(/^up: applied, backup (.+\.db) \([\d.]+ ms\)$/)?.[1];
    expect(backup && fs.existsSync(backup)).toBe(true);
    expect(verifyLine).toBe('verify: verified');
    expect(new Migrator().verify({ dbPath }).status).toBe('verified');

    const again = await runNodeAsync(example('migrate-one-database.mjs'), [dbPath]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^up: already-applied \([\d.]+ ms\)\nverify: verified\n$/);

    const missing = await runNodeAsync(example('migrate-one-database.mjs'), [
      path.join(dbPath, '..', 'none.db'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^up failed: DB_NOT_FOUND: /);
  });

  it('worker.mjs runs the jobs add-job-with-bullmq.mjs adds, refuses a path outside its roots, and stops on SIGTERM', async () => {
    const dbPath = sampleDb();
    const root = path.dirname(dbPath);
    const queueName = `examples-${randomUUID()}`;
    queues.push(queueName);
    const env = { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName };
    const worker = spawn(process.execPath, [example('worker.mjs'), root], {
      env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'silent', ...env },
    });
    let printed = '';
    worker.stdout.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
    try {
      await waitFor(() => printed.includes(`worker on queue ${queueName}`), 'the example worker to start');

      const added = await runNodeAsync(example('add-job-with-bullmq.mjs'), [dbPath], { env });
      expect(added.stderr).toBe('');
      expect(added.code).toBe(0);
      const backup = added.stdout.match(/\napplied, backup (.+\.db), by .+\n$/)?.[1];
      expect(backup && fs.existsSync(backup)).toBe(true);
      expect(new Migrator().verify({ dbPath }).status).toBe('verified');
      expect(printed).toContain(`migrate-up ${dbPath}: applied, backup ${backup}`);

      // Outside the worker's roots: the job fails at once (no retry), and the file is left as it was.
      const outside = sampleDb();
      const before = fileSha256(outside);
      const refused = await runNodeAsync(example('add-job-with-bullmq.mjs'), [outside], { env });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/^failed: PATH_NOT_ALLOWED: Database .+ is outside the allowed roots/);
      expect(fileSha256(outside)).toBe(before);
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
