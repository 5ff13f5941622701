import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256OfFile } from '../../src/engine/backup-check.js';
import { Migrator } from '../../src/engine/migrator.js';
import { InvalidRolloutError } from '../../src/fleet/client.js';
import { startRolloutController } from '../../src/fleet/controller.js';
import { childJobId } from '../../src/fleet/rollout.js';
import { createProducer, type EnqueuedJob } from '../../src/producer/producer.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { rolloutGateKey } from '../../src/queue/rollout-gate.js';
import { acquireFileLock } from '../../src/worker/file-lock.js';
import { redisForFile } from '../helpers/redis.js';
import { holdSqliteLock, waitFor } from '../queue/helpers.js';
import {
  type FleetRig,
  filesIn,
  makeAppliedProject,
  makeBrokenProject,
  makeFrozenProject,
  makeProject,
  startFleetRig,
} from './helpers.js';

/** The rollout gates left in the rig's queue (a completed rollout removes its own). */
async function gateKeysOf(redisUrl: string, queueName: string): Promise<string[]> {
  const queue = new Queue(queueName, { connection: connectionOptionsFromUrl(redisUrl) });
  try {
    return await (await queue.client).runCommand('keys', [queue.toKey('rollout-gate:*')]);
  } finally {
    await queue.close();
  }
}

const verifyStatus = (dbPath: string) => new Migrator().verify({ dbPath }).status;

describe('fleet rollouts', () => {
  const redis = redisForFile();
  let rig: FleetRig;

  beforeEach(async () => {
    rig = await startFleetRig(redis.url, { busyTimeoutMs: 100 });
  });
  afterEach(async () => {
    await rig.close();
  });

  it('applies the migration to every database and reports each backup', async () => {
    const targets = ['alpha', 'beta', 'gamma', 'delta'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({
      op: 'up',
      targets,
      preflight: true,
      canary: 1,
      maxFailures: { percent: 50 },
    });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('completed');
    expect(report.counts).toMatchObject({ total: 4, done: 4, failed: 0, cancelled: 0 });
    expect(await gateKeysOf(redis.url, rig.queueName)).toEqual([]);
    for (const database of report.databases) {
      expect(database.state).toBe('done');
      expect(database.backupPath).toMatch(/documents\.backup_\d{8}T\d{9}Z\.db$/);
      expect(verifyStatus(database.dbPath)).toBe('verified');
    }
  });

  it('refuses a target that cannot be a database before anything is queued', async () => {
    const good = makeProject(rig.root, 'good');
    await expect(rig.fleet.start({ op: 'up', targets: [good, `${good}\0.db`] })).rejects.toThrow(
      /NUL character/,
    );
    expect(await rig.fleet.list()).toEqual([]);
  });

  it('runs a database named two ways (through a symlinked directory, relatively) once', async () => {
    const real = makeProject(rig.root, 'real');
    fs.symlinkSync(path.join(rig.root, 'real'), path.join(rig.root, 'link'), 'dir');
    const viaLink = path.join(rig.root, 'link', '.gao-dev', 'documents.db');
    const relative = path.relative(process.cwd(), real);
    const report = await rig.fleet.wait(
      await rig.fleet.start({ op: 'up', targets: [real, viaLink, relative], canary: 3 }),
    );

    expect(report.state).toBe('completed');
    expect(report.counts).toMatchObject({ total: 1, done: 1 });
    expect(report.databases.map((database) => database.dbPath)).toEqual([real]);
  });

  it('reports the backup a failed database made', async () => {
    const good = makeProject(rig.root, 'good');
    const frozen = makeFrozenProject(rig.root, 'frozen');
    const report = await rig.fleet.wait(await rig.fleet.start({ op: 'up', targets: [good, frozen] }));
    const failed = report.databases.find((database) => database.dbPath === frozen);
    expect(failed).toMatchObject({ state: 'failed', error: expect.stringMatching(/^MIGRATION_FAILED: /) });
    expect(failed?.backupPath).toMatch(/documents\.backup_\d{8}T\d{9}Z\.db$/);
    expect(fs.existsSync(failed?.backupPath as string)).toBe(true);
    expect(failed?.error).toContain(failed?.backupPath as string);
  });

  it('gives each database retry --failed retries its full attempts again', async () => {
    const dbPath = makeProject(rig.root, 'busy');
    const holder = await holdSqliteLock(dbPath);
    try {
      const rolloutId = await rig.fleet.start({ op: 'up', targets: [dbPath], attempts: 2 });
      const first = await rig.fleet.wait(rolloutId);
      expect(first.databases[0]?.error).toMatch(/^DB_LOCKED: /);
      const jobId = first.databases[0]?.jobId as string;
      const migrations = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
      try {
        expect((await migrations.getJob(jobId))?.attemptsMade).toBe(2);
        expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
          retried: 1,
          resumed: false,
          haltedBy: null,
          requeued: 0,
        });
        const second = await rig.fleet.wait(rolloutId);
        expect(second.counts).toMatchObject({ failed: 1 });
        // Two more attempts, not one: attemptsMade counts from 0 again.
        expect((await migrations.getJob(jobId))?.attemptsMade).toBe(2);
      } finally {
        await migrations.close();
      }
    } finally {
      await holder.release();
    }
  });

  it('refuses out-of-range options with one sentence and a code, and starts nothing', async () => {
    const good = makeProject(rig.root, 'good');
    for (const input of [{ attempts: 101 }, { maxFailures: { count: 2 ** 70 } }]) {
      const attempt = rig.fleet.start({ op: 'up', targets: [good], ...input });
      await expect(attempt).rejects.toBeInstanceOf(InvalidRolloutError);
      await expect(attempt).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(/^Invalid rollout options \(.+\); no rollout was started\.$/),
      });
    }
    expect(await rig.fleet.list()).toEqual([]);
  });

  it('refuses a preflight of verify, which would only run the same checks twice', async () => {
    const good = makeProject(rig.root, 'good');
    await expect(rig.fleet.start({ op: 'verify', targets: [good], preflight: true })).rejects.toThrow(
      'preflight applies to up and down: verify writes nothing already; no rollout was started.',
    );
    expect(await rig.fleet.list()).toEqual([]);
  });

  it('blocks the whole rollout when preflight finds one bad database, and writes nothing', async () => {
    const good = ['one', 'two', 'three'].map((name) => makeProject(rig.root, name));
    const bad = makeBrokenProject(rig.root, 'broken');
    const before = new Map([...good, bad].map((dbPath) => [dbPath, sha256OfFile(dbPath)]));
    const filesBefore = filesIn(rig.root);

    const rolloutId = await rig.fleet.start({ op: 'up', targets: [...good, bad], preflight: true });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toContain('Preflight failed on 1 database(s)');
    expect(report.reason).toContain(bad);
    expect(report.databases.find((database) => database.dbPath === bad)?.error).toMatch(
      /NOT_A_DATABASE|not a SQLite database/,
    );
    for (const [dbPath, hash] of before) expect(sha256OfFile(dbPath)).toBe(hash);
    expect(filesIn(rig.root)).toEqual(filesBefore);
  });

  it('goes on to apply after retry --failed once the preflight that halted it passes', async () => {
    const good = ['gone1', 'gone2'].map((name) => makeProject(rig.root, name));
    const bad = makeBrokenProject(rig.root, 'gbad');
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [...good, bad], preflight: true });
    expect((await rig.fleet.wait(rolloutId)).state).toBe('halted');

    fs.rmSync(bad);
    fs.renameSync(makeProject(rig.root, 'mended'), bad);
    expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
      retried: 1,
      resumed: true,
      haltedBy: 'preflight',
      requeued: 0,
    });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('completed');
    expect(report.reason).toBeNull();
    expect(report.counts).toMatchObject({ total: 3, done: 3, failed: 0, cancelled: 0 });
    for (const dbPath of [...good, bad]) expect(verifyStatus(dbPath)).toBe('verified');
  });

  it('halts again, naming the database anew, when a retried preflight fails again, and applies nothing', async () => {
    const good = makeProject(rig.root, 'waits');
    const bad = makeBrokenProject(rig.root, 'still-bad');
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [good, bad], preflight: true });
    await rig.fleet.wait(rolloutId);

    expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
      retried: 1,
      resumed: true,
      haltedBy: 'preflight',
      requeued: 0,
    });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toBe(`Preflight failed on 1 database(s), so nothing was applied: ${bad}.`);
    expect(report.counts).toMatchObject({ failed: 1, cancelled: 1, done: 0 });
    expect(verifyStatus(good)).toBe('not-applied');
  });

  it('no longer blames a preflight failure retried some other way, and says how to resume', async () => {
    const good = makeProject(rig.root, 'other');
    const bad = makeBrokenProject(rig.root, 'board');
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [good, bad], preflight: true });
    await rig.fleet.wait(rolloutId);
    fs.rmSync(bad);
    fs.renameSync(makeProject(rig.root, 'fixed'), bad);

    // What bull-board's retry button does: the dry run alone goes back on the queue, the rollout stays halted.
    const migrations = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
    try {
      await (await migrations.getJob(`${rolloutId}_preflight_1`))?.retry('failed');
    } finally {
      await migrations.close();
    }
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toBe(
      `Preflight failed, so nothing was applied; the dry runs that failed have passed since. gao-migrate retry ${rolloutId} --failed resumes the rollout.`,
    );
    expect(report.counts).toMatchObject({ failed: 0, cancelled: 2, done: 0 });
    expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
      retried: 0,
      resumed: true,
      haltedBy: 'preflight',
      requeued: 0,
    });
    expect((await rig.fleet.wait(rolloutId)).counts).toMatchObject({ done: 2 });
  });

  it('stops after a failed canary and leaves the other databases untouched', async () => {
    const bad = makeBrokenProject(rig.root, 'canary');
    const rest = ['next1', 'next2', 'next3'].map((name) => makeProject(rig.root, name));
    const hashes = rest.map(sha256OfFile);

    const rolloutId = await rig.fleet.start({ op: 'up', targets: [bad, ...rest], canary: 1 });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toMatch(/Canary failed on 1 of 1/);
    expect(report.counts).toMatchObject({ failed: 1, cancelled: 3, done: 0 });
    expect(rest.map(sha256OfFile)).toEqual(hashes);
    for (const dbPath of rest) expect(verifyStatus(dbPath)).toBe('not-applied');
  });

  it('goes on to the rest after retry --failed once the canary that halted it succeeds', async () => {
    const canary = makeBrokenProject(rig.root, 'canary-mended');
    const rest = ['after1', 'after2'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [canary, ...rest], canary: 1 });
    expect((await rig.fleet.wait(rolloutId)).state).toBe('halted');

    fs.rmSync(canary);
    fs.renameSync(makeProject(rig.root, 'repaired-canary'), canary);
    expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
      retried: 1,
      resumed: true,
      haltedBy: 'canary',
      requeued: 0,
    });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('completed');
    expect(report.reason).toBeNull();
    expect(report.counts).toMatchObject({ total: 3, done: 3, failed: 0, cancelled: 0 });
    for (const dbPath of [canary, ...rest]) expect(verifyStatus(dbPath)).toBe('verified');
  });

  it('halts again when a retried canary fails again, and leaves the rest untouched', async () => {
    const canary = makeFrozenProject(rig.root, 'canary-frozen');
    const rest = ['wait1', 'wait2'].map((name) => makeProject(rig.root, name));
    const hashes = rest.map(sha256OfFile);
    const rolloutId = await rig.fleet.start({
      op: 'up',
      targets: [canary, ...rest],
      canary: 1,
      attempts: 1,
    });
    await rig.fleet.wait(rolloutId);
    const migrations = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
    try {
      const firstFailure = (await migrations.getJob(`${rolloutId}_apply_0`))?.finishedOn;

      expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
        retried: 1,
        resumed: true,
        haltedBy: 'canary',
        requeued: 0,
      });
      const report = await rig.fleet.wait(rolloutId);

      expect(report.state).toBe('halted');
      expect(report.reason).toBe('Canary failed on 1 of 1 database(s); the other 2 were not started.');
      expect(report.counts).toMatchObject({ failed: 1, cancelled: 2, done: 0 });
      // Halted by the canary's second failure, not left with the first one's verdict.
      expect((await migrations.getJob(`${rolloutId}_apply_0`))?.finishedOn).toBeGreaterThan(
        firstFailure as number,
      );
      expect(rest.map(sha256OfFile)).toEqual(hashes);
    } finally {
      await migrations.close();
    }
  });

  it('lets every database after a passed canary start when --max-failures is not given, whatever fails', async () => {
    const canary = makeProject(rig.root, 'canary');
    const rest = [
      makeBrokenProject(rig.root, 'bad'),
      ...['r1', 'r2', 'r3'].map((name) => makeProject(rig.root, name)),
    ];
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [canary, ...rest], canary: 1 });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('completed');
    expect(report.counts).toMatchObject({ done: 4, failed: 1, cancelled: 0 });
    expect(await gateKeysOf(redis.url, rig.queueName)).toEqual([]);
  });

  it('leaves no gate behind a canary without --max-failures, even when the canary fails', async () => {
    const targets = [
      makeBrokenProject(rig.root, 'c1'),
      makeProject(rig.root, 'c2'),
      makeProject(rig.root, 'r1'),
    ];
    const rolloutId = await rig.fleet.start({ op: 'up', targets, canary: 2 });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.reason).toMatch(/^Canary failed/);
    expect(report.databases.map((database) => database.error ?? '').join(' ')).not.toContain(
      'ROLLOUT_HALTED',
    );
    expect(await gateKeysOf(redis.url, rig.queueName)).toEqual([]);
  });

  it('halts, not completes, when the gate cancelled databases whose failures were taken back since', async () => {
    const targets = ['a', 'b'].map((name) => makeProject(rig.root, name));
    const before = targets.map(sha256OfFile);
    // No controller yet: the rollout's gate is made to hold a failure that is no longer a failed job, as after a
    // `retry --failed` that came once the gate had closed.
    await rig.controller.close();
    const rolloutId = await rig.fleet.start({ op: 'up', targets, maxFailures: { count: 0 } });
    const queue = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
    await (await queue.client).hset(rolloutGateKey(queue, rolloutId), { failed: 1 });
    const controller = startRolloutController({
      connection: connectionOptionsFromUrl(redis.url),
      queueName: rig.queueName,
      pollMs: 50,
    });
    try {
      const report = await rig.fleet.wait(rolloutId);

      expect(report.state).toBe('halted');
      expect(report.reason).toMatch(
        /^Halted: failures passed the 0 allowed while it ran, so 2 database\(s\)/,
      );
      expect(report.counts).toMatchObject({ done: 0, failed: 0, cancelled: 2 });
      expect(targets.map(sha256OfFile)).toEqual(before);
    } finally {
      await controller.close();
      await queue.close();
    }
  });

  it('no longer counts a failure retried while the rollout runs against --max-failures', async () => {
    const bad = makeBrokenProject(rig.root, 'fixed-meanwhile');
    const held = makeProject(rig.root, 'held');
    const later = makeBrokenProject(rig.root, 'fails-later');
    // The worker waits for <held>.lock: the rollout is still running when the first failure is retried.
    const lock = await acquireFileLock(held);
    try {
      const rolloutId = await rig.fleet.start({
        op: 'up',
        targets: [bad, held, later],
        maxFailures: { count: 1 },
        attempts: 1,
      });
      await waitFor(
        async () => (await rig.fleet.report(rolloutId))?.databases[0]?.state === 'failed',
        'the first database to fail',
      );
      fs.rmSync(bad);
      fs.renameSync(makeProject(rig.root, 'repaired'), bad);
      expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
        retried: 1,
        resumed: false,
        haltedBy: null,
        requeued: 0,
      });
      await lock.release();
      const report = await rig.fleet.wait(rolloutId);

      // One failure, the one allowed: the retried database succeeded, the last one failed.
      expect(report.state).toBe('completed');
      expect(report.counts).toMatchObject({ done: 2, failed: 1, cancelled: 0 });
      expect(verifyStatus(bad)).toBe('verified');
    } finally {
      await lock.release();
    }
  });

  it('halts at the failure threshold and cancels what has not started', async () => {
    const bad = [makeBrokenProject(rig.root, 'bad1'), makeBrokenProject(rig.root, 'bad2')];
    const good = ['g1', 'g2', 'g3', 'g4', 'g5'].map((name) => makeProject(rig.root, name));
    // Hold the good databases locked: their jobs wait for a retry instead of finishing before the halt.
    const holders = good.map((dbPath) => {
      const holder = new Database(dbPath);
      holder.exec('BEGIN EXCLUSIVE');
      return holder;
    });
    try {
      const rolloutId = await rig.fleet.start({
        op: 'up',
        targets: [...bad, ...good],
        maxFailures: { count: 1 },
        attempts: 3,
      });
      const report = await rig.fleet.wait(rolloutId);

      expect(report.state).toBe('halted');
      expect(report.reason).toMatch(/Halted after \d failure\(s\), more than the 1 allowed/);
      // The two broken databases fail; a good one already running when the threshold passed may finish (here:
      // fail, as it is still locked); every other one is cancelled.
      expect(report.counts.failed).toBeGreaterThanOrEqual(2);
      expect(report.counts.cancelled).toBeGreaterThanOrEqual(good.length - 1);
      expect(report.counts.failed + report.counts.cancelled).toBe(bad.length + good.length);
    } finally {
      for (const holder of holders) holder.close();
    }
    // Whatever was cancelled never ran, even now that the databases are free again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cancelledUntouched = good.filter((dbPath) => verifyStatus(dbPath) === 'not-applied');
    expect(cancelledUntouched.length).toBeGreaterThanOrEqual(good.length - 1);
  });

  it('starts no database once failures passed the threshold, even between two looks of the controller', async () => {
    const bad = makeBrokenProject(rig.root, 'first-bad');
    const good = Array.from({ length: 8 }, (_, i) => makeProject(rig.root, `good${i}`));
    const before = good.map((dbPath) => sha256OfFile(dbPath));
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [bad, ...good], maxFailures: { count: 0 } });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('halted');
    expect(report.counts).toMatchObject({ failed: 1, cancelled: 8, done: 0 });
    expect(report.databases.filter((database) => database.state === 'cancelled').map((d) => d.error)).toEqual(
      good.map(() => null),
    );
    expect(good.map((dbPath) => sha256OfFile(dbPath))).toEqual(before);
  });

  it('goes on with the databases its --max-failures halt cancelled after retry --failed, once they pass', async () => {
    const bad = makeBrokenProject(rig.root, 'mend-me');
    const good = ['t1', 't2', 't3'].map((name) => makeProject(rig.root, name));
    const rolloutId = await rig.fleet.start({
      op: 'up',
      targets: [bad, ...good],
      maxFailures: { count: 0 },
      attempts: 1,
    });
    expect((await rig.fleet.wait(rolloutId)).counts).toMatchObject({ failed: 1, cancelled: 3 });

    fs.rmSync(bad);
    fs.renameSync(makeProject(rig.root, 'mended-bad'), bad);
    expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
      retried: 1,
      resumed: true,
      haltedBy: 'max-failures',
      requeued: 3,
    });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.state).toBe('completed');
    expect(report.reason).toBeNull();
    expect(report.counts).toMatchObject({ total: 4, done: 4, failed: 0, cancelled: 0 });
    for (const dbPath of [bad, ...good]) expect(verifyStatus(dbPath)).toBe('verified');
    expect(await gateKeysOf(redis.url, rig.queueName)).toEqual([]);
  });

  it('halts again at --max-failures when a retried database fails again, and starts none of the rest', async () => {
    const bad = makeBrokenProject(rig.root, 'stays-bad');
    const good = ['u1', 'u2', 'u3'].map((name) => makeProject(rig.root, name));
    const before = good.map(sha256OfFile);
    const rolloutId = await rig.fleet.start({
      op: 'up',
      targets: [bad, ...good],
      maxFailures: { count: 0 },
      attempts: 1,
    });
    await rig.fleet.wait(rolloutId);
    const migrations = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
    try {
      const firstFailure = (await migrations.getJob(`${rolloutId}_apply_0`))?.finishedOn;

      expect(await rig.fleet.retryFailed(rolloutId)).toMatchObject({
        resumed: true,
        haltedBy: 'max-failures',
      });
      const report = await rig.fleet.wait(rolloutId);

      expect(report.state).toBe('halted');
      expect(report.reason).toBe(
        'Halted after 1 failure(s), more than the 0 allowed; databases not yet started were cancelled.',
      );
      expect(report.counts).toMatchObject({ failed: 1, cancelled: 3, done: 0 });
      // Halted by the second failure, not left with the first one's verdict.
      expect((await migrations.getJob(`${rolloutId}_apply_0`))?.finishedOn).toBeGreaterThan(
        firstFailure as number,
      );
      expect(good.map(sha256OfFile)).toEqual(before);
    } finally {
      await migrations.close();
    }
  });

  it('reports status per database and retries the failed ones', async () => {
    const good = makeProject(rig.root, 'fine');
    const bad = makeBrokenProject(rig.root, 'fixme');
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [good, bad] });
    const first = await rig.fleet.wait(rolloutId);

    expect(first.counts).toMatchObject({ done: 1, failed: 1 });
    const failed = first.databases.find((database) => database.state === 'failed');
    expect(failed?.dbPath).toBe(bad);
    expect((await rig.fleet.list()).includes(rolloutId)).toBe(true);

    // The operator repairs the database, then retries only what failed.
    const fs = await import('node:fs');
    fs.rmSync(bad);
    const repaired = makeProject(rig.root, 'repaired');
    fs.renameSync(repaired, bad);
    expect(await rig.fleet.retryFailed(rolloutId)).toEqual({
      retried: 1,
      resumed: false,
      haltedBy: null,
      requeued: 0,
    });
    const second = await rig.fleet.wait(rolloutId);

    expect(second.state).toBe('completed');
    expect(second.counts).toMatchObject({ done: 2, failed: 0 });
    expect(verifyStatus(bad)).toBe('verified');
  });

  it('reports per database what a down discarded, and only what its apply job dropped', async () => {
    const targets = [makeAppliedProject(rig.root, 'kept'), makeAppliedProject(rig.root, 'used', 1)];

    const rolloutId = await rig.fleet.start({ op: 'down', targets, preflight: true });
    const report = await rig.fleet.wait(rolloutId);

    expect(report.counts).toMatchObject({ total: 2, done: 2 });
    const byPath = new Map(report.databases.map((database) => [database.dbPath, database.discarded]));
    expect(byPath.get(targets[0] as string)).toEqual([]);
    expect(byPath.get(targets[1] as string)).toEqual([
      { object: 'learning_applications', rows: 1, message: '1 row of learning_applications' },
      expect.objectContaining({
        rows: 1,
        message: 'the metrics of 1 learning (values other than the defaults)',
      }),
    ]);
  });

  it('reports per database what its preflight found a down would discard, until its apply job runs', async () => {
    const targets = [makeAppliedProject(rig.root, 'plain'), makeAppliedProject(rig.root, 'used', 3)];
    const halted = await rig.fleet.wait(
      await rig.fleet.start({
        op: 'down',
        targets: [...targets, makeBrokenProject(rig.root, 'blocks')],
        preflight: true,
      }),
    );

    expect(halted.state).toBe('halted');
    expect(halted.databases.map((database) => database.wouldDiscard)).toEqual([
      [],
      [
        { object: 'learning_applications', rows: 3, message: '3 rows of learning_applications' },
        expect.objectContaining({ rows: 1 }),
      ],
      [],
    ]);
    expect(halted.databases.map((database) => database.discarded)).toEqual([[], [], []]);
    for (const dbPath of targets) expect(verifyStatus(dbPath)).toBe('verified');

    // Once the down ran, what it discarded is what counts.
    const applied = await rig.fleet.wait(await rig.fleet.start({ op: 'down', targets, preflight: true }));
    expect(applied.databases.map((database) => database.wouldDiscard)).toEqual([[], []]);
    expect(applied.databases[1]?.discarded.map((item) => item.rows)).toEqual([3, 1]);
  });

  it("runs a rollout's down on a database after the up enqueued before it, which waits for a retry", async () => {
    const dbPath = makeProject(rig.root, 'in-backoff');
    const producer = await createProducer({ redisUrl: redis.url, queueName: rig.queueName });
    const migrations = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
    const holder = await holdSqliteLock(dbPath);
    try {
      const [up] = await producer.enqueue('up', [dbPath]);
      await waitFor(
        async () => (await migrations.getJobState(up?.jobId as string)) === 'delayed',
        'the up in backoff',
      );
      await holder.release();
      const report = await rig.fleet.wait(await rig.fleet.start({ op: 'down', targets: [dbPath] }));
      expect(report.databases[0]).toMatchObject({ state: 'done' });
      const upJob = await migrations.getJob(up?.jobId as string);
      expect(upJob?.returnvalue).toMatchObject({ status: 'applied' });
      const downJob = await migrations.getJob(report.databases[0]?.jobId as string);
      expect(downJob?.returnvalue).toMatchObject({ status: 'rolled-back' });
      expect(verifyStatus(dbPath)).toBe('not-applied');
    } finally {
      await holder.release();
      await migrations.close();
      await producer.close();
    }
  });

  it("runs a down enqueued after a rollout's up on the same database after it, while the up waits for a retry", async () => {
    const dbPath = makeProject(rig.root, 'rollout-in-backoff');
    const producer = await createProducer({ redisUrl: redis.url, queueName: rig.queueName });
    const migrations = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
    const holder = await holdSqliteLock(dbPath);
    try {
      const rolloutId = await rig.fleet.start({ op: 'up', targets: [dbPath] });
      const upId = childJobId(rolloutId, 'apply', 0);
      await waitFor(
        async () => (await migrations.getJobState(upId)) === 'delayed',
        "the rollout's up in backoff",
      );
      await holder.release();
      const [down] = await producer.enqueue('down', [dbPath]);
      const [outcome] = await producer.waitForJobs([down as EnqueuedJob]);
      expect(outcome?.result).toMatchObject({ status: 'rolled-back' });
      expect((await rig.fleet.wait(rolloutId)).databases[0]).toMatchObject({ state: 'done' });
      expect((await migrations.getJob(upId))?.returnvalue).toMatchObject({ status: 'applied' });
      expect(verifyStatus(dbPath)).toBe('not-applied');
    } finally {
      await holder.release();
      await migrations.close();
      await producer.close();
    }
  });

  it('answers null for a rollout that does not exist', async () => {
    expect(await rig.fleet.report('rollout-none')).toBeNull();
    expect(await rig.fleet.retryFailed('rollout-none')).toEqual({
      retried: 0,
      resumed: false,
      haltedBy: null,
      requeued: 0,
    });
  });
});
