import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  contendWorkers,
  makeTemplate,
  type RedisServer,
  startRedisServer,
  stopAll,
  type Template,
  tempRoot,
  writerDuringMigration,
} from '../../scripts/lib/reliability.mjs';

// Worker processes contending for the same databases, and another process writing them during migrations.
let root: string;
let redis: RedisServer;
let rollback: Template;
let wal: Template;

beforeAll(async () => {
  root = tempRoot('gao-migrate-concurrency-test-');
  redis = await startRedisServer();
  rollback = makeTemplate(root, { learnings: 3000, wal: false, seed: 21 });
  wal = makeTemplate(root, { learnings: 3000, wal: true, seed: 22 });
});

afterAll(async () => {
  await stopAll();
  await redis?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe.each([2, 4])('%i worker processes over the same databases', (workers) => {
  it('never runs two migrations on one database, applies each once, and finishes every job', async () => {
    const result = await contendWorkers({
      redisUrl: redis.url,
      root,
      template: rollback,
      workers,
      databases: 3,
    });
    expect(result.failed).toEqual([]);
    expect(result.completed).toBe(result.jobs);
    expect(result.lockHolds).toBe(result.jobs);
    expect(result.overlaps).toBe(0);
    for (const db of result.databases) {
      expect(db.applied).toBe(1);
      expect(db.rolledBack).toBe(1);
      expect(db.backupsAfterUp).toBe(1);
      expect(db.rollbackBackups).toBe(1);
      expect(db.state).toBe('before');
      expect(db.integrity).toBe('ok');
      expect(db.badBackups).toBe(0);
    }
  });
});

describe.each([
  ['rollback-journal', () => rollback],
  ['WAL', () => wal],
])('another process writing during migrations (%s)', (_mode, template) => {
  it('makes the migration wait or fail DB_LOCKED and retry, and loses none of its committed writes', async () => {
    const result = await writerDuringMigration({ redisUrl: redis.url, root, template: template() });
    expect(result.failed).toEqual([]);
    expect(result.completed).toBe(result.jobs);
    expect(result.lockedRetries).toBeGreaterThanOrEqual(1);
    expect(result.writerCommitted).toBeGreaterThan(0);
    expect(result.writerErrors).toBe('');
    expect(result.lostWrites).toBe(0);
    expect(result.unexpectedRows).toBe(0);
    expect(result.integrity).toBe('ok');
    expect(result.badBackups).toBe(0);
    expect(result.state).toBe(result.expectedState);
  });
});

describe('a reader holding its snapshot during migrations of a WAL database of more than 4 MiB', () => {
  it("backs up through the WAL it keeps from being checkpointed (copy-wal), and loses none of the writer's rows", async () => {
    const template = makeTemplate(root, { learnings: 20_000, wal: true, seed: 23 });
    expect(fs.statSync(template.path).size).toBeGreaterThan(4 * 1024 * 1024);
    const result = await writerDuringMigration({
      redisUrl: redis.url,
      root,
      template,
      jobs: 2,
      readerHoldMs: 1500,
    });
    expect(result.failed).toEqual([]);
    expect(result.completed).toBe(result.jobs);
    expect(result.backupMethods['copy-wal']).toBeGreaterThanOrEqual(1);
    // One per change, and one more for each attempt that failed after its backup (DB_LOCKED at commit). Not one
    // per job: a job retried after DB_LOCKED may run after the next one and find nothing left to change.
    expect(result.changes).toBeGreaterThanOrEqual(1);
    expect(result.backups).toBeGreaterThanOrEqual(result.changes);
    expect(result.missingBackups).toBe(0);
    expect(result.badBackups).toBe(0);
    expect(result.lostWrites).toBe(0);
    expect(result.unexpectedRows).toBe(0);
    expect(result.integrity).toBe('ok');
    expect(result.state).toBe(result.expectedState);
  });
});
