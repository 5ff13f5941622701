import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  crashWorkers,
  diskNearlyFull,
  killDuringBackup,
  makeTemplate,
  type RedisServer,
  startRedisServer,
  stopAll,
  type Template,
  tempRoot,
} from '../../scripts/lib/reliability.mjs';
import { contentHash } from '../helpers/sqlite.js';

// kill -9 of real `gao-migrate` processes at random moments; the bounded form of `npm run chaos`.
let root: string;
let redis: RedisServer;
let rollback: Template;
let wal: Template;

beforeAll(async () => {
  root = tempRoot('gao-migrate-crash-test-');
  redis = await startRedisServer();
  rollback = makeTemplate(root, { learnings: 3000, wal: false, seed: 11 });
  wal = makeTemplate(root, { learnings: 3000, wal: true, seed: 12 });
});

afterAll(async () => {
  await stopAll();
  await redis?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('kill -9 of the worker during up and down jobs', () => {
  it('completes every job and leaves every database and backup whole', async () => {
    const result = await crashWorkers({
      redisUrl: redis.url,
      root,
      templates: [rollback, wal],
      databases: 4,
      rounds: 4,
      kills: 6,
      sameJobKills: 3,
      seed: 5,
    });
    expect(result.jobs).toBe(16);
    expect(result.failed).toEqual([]);
    expect(result.completed).toBe(16);
    expect(result.kills.length).toBeGreaterThanOrEqual(3);
    expect(result.restarts).toBe(result.kills.length);
    // One job killed three times in a row still completes: BullMQ's default maxStalledCount (1) would have
    // failed it as "job stalled more than allowable limit".
    expect(result.mostKillsOfOneJob).toBeGreaterThanOrEqual(3);
    expect(result.repeatedJob?.state).toBe('completed');
    expect(result.repeatedJob?.stalledCounter).toBeGreaterThanOrEqual(2);
    expect(result.summary).toMatchObject({
      databasesChecked: 4,
      corrupt: 0,
      neitherState: 0,
      wrongState: 0,
      lostLearnings: 0,
      strayTables: 0,
      appliedTwice: 0,
      badBackups: 0,
      partialsNamedLikeBackups: 0,
    });
    for (const check of result.databases) {
      expect(check.integrity).toBe('ok');
      expect(check.learnings).toBe(3000);
      expect(check.backups.length).toBeGreaterThanOrEqual(4);
      // The same verdict from the suite's own hash (schema and every row), against a fresh copy of the template.
      const template =
        check.dbPath.includes('project-1') || check.dbPath.includes('project-3') ? wal : rollback;
      if (check.state === 'before') expect(contentHash(check.dbPath)).toBe(contentHash(template.path));
    }
  });
});

describe('kill -9 of `gao-migrate up` during its backup', () => {
  it('never leaves a file with a backup name that is not a complete, checked backup', async () => {
    const template = makeTemplate(root, { learnings: 20_000, seed: 13 });
    const result = await killDuringBackup({ root, template, attempts: 4, maxDelayMs: 30, seed: 3 });
    expect(result.kills).toBeGreaterThanOrEqual(1);
    for (const run of result.runs.filter((entry) => entry.killed)) {
      expect(run.badBackups).toBe(0);
      expect(run.partialsNamedLikeBackups).toBe(0);
      // A kill after the commit finds the change made, and so its checked backup beside it.
      if (run.stateAfterKill === 'after') expect(run.finalNamedBackups).toBeGreaterThanOrEqual(1);
      else expect(run.stateAfterKill).toBe('before');
    }
    expect(result.finalExit).toBe(0);
    expect(result.finalStatus).toBe('applied');
    expect(result.final.state).toBe('after');
    expect(result.final.integrity).toBe('ok');
    // One from the final run, plus one from each kill that landed between a backup's link and the commit.
    expect(result.final.backups.length).toBeGreaterThanOrEqual(1);
    for (const backup of result.final.backups)
      expect(backup).toMatchObject({ quickCheck: 'ok', matchesSource: true, checksum: 'matches' });
  });
});

describe('disk nearly full', () => {
  it('refuses with INSUFFICIENT_DISK_SPACE before anything is written', async () => {
    const result = await diskNearlyFull({ root });
    expect(result.code).toBe('INSUFFICIENT_DISK_SPACE');
    expect(result.unchanged).toBe(true);
    expect(Object.keys(result.files)).toEqual(['documents.db']);
    if (result.method.startsWith('tmpfs')) expect(result.exit).toBe(2);
    expect(result.message).toMatch(/^Not enough free space beside .+; nothing was changed\.$/);
    // The dry run before it foresaw the refusal, and wrote nothing either.
    const { dryRun, method } = result;
    expect(dryRun.code).toBe('INSUFFICIENT_DISK_SPACE');
    expect(dryRun.unchanged).toBe(true);
    if (method.startsWith('tmpfs')) expect(dryRun.exit).toBe(2);
    expect(dryRun.message).toMatch(
      /^Not enough free space beside .+; nothing was changed \(this was a dry run; the real run would be refused\)\.$/,
    );
  });
});
