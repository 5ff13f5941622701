import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { hasStackTrace, jsonOf, runCli } from '../helpers/cli.js';
import { runCliAsync } from '../helpers/cli-async.js';
import { redisForFile } from '../helpers/redis.js';
import {
  contentHash,
  fileSha256,
  filesBeside,
  leaveHotJournal,
  sampleDb,
  tempDir,
  withDb,
} from '../helpers/sqlite.js';
import { type CliWorker, killQuietly, startCliWorker } from '../queue/helpers.js';

// A gao-dev process killed (SIGKILL) in the middle of a write transaction that had spilled changed pages into the
// database file: documents.db holds half a change, documents.db-journal what undoes it (leaveHotJournal).

const redis = redisForFile();
const workers: CliWorker[] = [];

afterEach(async () => {
  for (const worker of workers.splice(0)) await killQuietly(worker);
});

/** The name and SHA-256 of every file beside the database, to show what a command left as it was. */
function filesWithBytes(dbPath: string): Record<string, string> {
  const dir = path.dirname(dbPath);
  return Object.fromEntries(filesBeside(dbPath).map((name) => [name, fileSha256(path.join(dir, name))]));
}

/** How many learnings carry the killed writer's uncommitted edit. */
function uncommittedRows(dbPath: string): number {
  return withDb(
    dbPath,
    (db) =>
      (
        db.prepare("SELECT count(*) AS n FROM learning_index WHERE learning LIKE '% (changed)'").get() as {
          n: number;
        }
      ).n,
    true,
  );
}

const HOT_JOURNAL_SENTENCE = (dbPath: string) =>
  `${dbPath} has a hot journal (${dbPath}-journal): a writer stopped in the middle of a transaction, and only a read-write connection rolls it back (gao-migrate verify does, as does the change itself); until then it cannot be read read-only. The database is unchanged.`;

describe('a hot journal left by a writer killed mid-transaction', () => {
  it('fails a dry run of up or down with HOT_JOURNAL and exit 2, the database and its journal byte for byte as they were', async () => {
    const dbPath = sampleDb();
    await leaveHotJournal(dbPath);
    const before = filesWithBytes(dbPath);
    expect(Object.keys(before)).toEqual(['documents.db', 'documents.db-journal']);

    const text = runCli(['up', '--dry-run', '--db', dbPath]);
    expect(text.status).toBe(2);
    expect(text.stdout).toBe(
      `Migration 006 up: failed (dry run: nothing would run; nothing written, no backup) (${dbPath}, ${/, (\d+) ms\)/.exec(text.stdout)?.[1]} ms)\nError HOT_JOURNAL: ${HOT_JOURNAL_SENTENCE(dbPath)}\n`,
    );
    expect(hasStackTrace(text.stdout + text.stderr)).toBe(false);

    const json = runCli(['down', '--dry-run', '--db', dbPath, '--json']);
    expect(json.status).toBe(2);
    expect(jsonOf(json)).toMatchObject({
      ok: false,
      op: 'down',
      status: 'failed',
      dryRun: true,
      backupPath: null,
      plan: [],
      error: { code: 'HOT_JOURNAL', message: HOT_JOURNAL_SENTENCE(dbPath), retryable: false },
    });

    expect(filesWithBytes(dbPath)).toEqual(before);
  });

  it('is rolled back by verify, as the message says: the half-written change and the journal are gone, exit 1 (not applied)', async () => {
    const dbPath = sampleDb();
    const committed = contentHash(dbPath);
    await leaveHotJournal(dbPath);
    // The file alone (copied without its journal) carries the half-written change: the journal is what undoes it.
    const alone = path.join(tempDir(), 'alone.db');
    fs.copyFileSync(dbPath, alone);
    expect(uncommittedRows(alone)).toBeGreaterThan(0);

    const verify = runCli(['verify', '--db', dbPath, '--json']);
    expect(verify.status).toBe(1);
    expect(jsonOf(verify)).toMatchObject({ status: 'not-applied', error: { code: 'NOT_APPLIED' } });
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
    expect(contentHash(dbPath)).toBe(committed);
    expect(uncommittedRows(dbPath)).toBe(0);
    // Nothing stands in a dry run's way any more.
    expect(runCli(['up', '--dry-run', '--db', dbPath]).status).toBe(0);
  });

  it('is rolled back by up before its backup: the migration applies, and neither the database nor the backup keeps the half-written change', async () => {
    const dbPath = sampleDb();
    await leaveHotJournal(dbPath);

    const up = runCli(['up', '--db', dbPath, '--json']);
    expect(up.status).toBe(0);
    const result = jsonOf(up);
    expect(result).toMatchObject({ ok: true, status: 'applied', error: null });
    const backupPath = result.backupPath as string;
    expect(filesBeside(dbPath)).toEqual([
      path.basename(backupPath),
      `${path.basename(backupPath)}.sha256`,
      'documents.db',
    ]);
    expect(uncommittedRows(dbPath)).toBe(0);
    expect(uncommittedRows(backupPath)).toBe(0);
  });

  it('fails a dry-run job through a worker at once (no retry) with the same sentence, leaving every file as it was', async () => {
    const dbPath = sampleDb();
    await leaveHotJournal(dbPath);
    const before = filesWithBytes(dbPath);
    const queueName = `test-${randomUUID()}`;
    const env = { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName };
    workers.push(await startCliWorker({ ...env, GAO_MIGRATE_ROOTS: path.dirname(dbPath) }));

    const run = await runCliAsync(
      ['enqueue', 'up', '--dry-run', '--db', dbPath, '--attempts', '5', '--wait', '--json'],
      { env },
    );
    expect(run.code).toBe(2);
    const [job] = JSON.parse(run.stdout).jobs;
    expect(job).toMatchObject({ dbPath, state: 'failed' });
    expect(job.failedReason).toBe(`HOT_JOURNAL: ${HOT_JOURNAL_SENTENCE(dbPath)}`);
    expect(filesWithBytes(dbPath)).toEqual(before);

    const queue = new Queue(queueName, { connection: connectionOptionsFromUrl(redis.url) });
    try {
      expect((await queue.getJob(job.jobId))?.attemptsMade).toBe(1);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('restore keeps such a database byte for byte with its journal, says what that is and what to do, and the advice works', async () => {
    const backup = sampleDb({ seed: 2 });
    const dbPath = sampleDb();
    await leaveHotJournal(dbPath);
    const before = filesWithBytes(dbPath);
    const said = (kept: string, tense: 'has' | 'had') =>
      `It ${tense} an unfinished transaction's journal beside it (HOT_JOURNAL: a writer stopped mid-transaction), so it ${tense === 'has' ? 'would be' : 'is'} kept byte for byte with that journal, as ${kept}-journal: keep the two together, and SQLite rolls the transaction back the first time the copy is opened read-write (gao-migrate verify --db ${kept} does), leaving the copy as of its last commit.\n`;

    const planned = runCli(['restore', '--db', dbPath, '--from', backup, '--dry-run']);
    expect(planned.status).toBe(0);
    const wouldKeep = /^The file that was in place would be kept at (.+)$/m.exec(
      planned.stdout,
    )?.[1] as string;
    expect(planned.stdout).toContain(said(wouldKeep, 'has'));
    expect(filesWithBytes(dbPath)).toEqual(before);

    const restore = runCli(['restore', '--db', dbPath, '--from', backup]);
    expect(restore.status).toBe(0);
    const kept = /^The file that was in place is kept at (.+)$/m.exec(restore.stdout)?.[1] as string;
    expect(path.dirname(kept)).toBe(path.dirname(dbPath));
    expect(restore.stdout).toContain(said(kept, 'had'));
    expect(restore.stdout).not.toContain('sound');
    const json = jsonOf(runCli(['restore', '--db', dbPath, '--from', backup, '--dry-run', '--json']));
    expect(json.replacedFileProblem).toBeNull(); // the restored file has no journal
    expect(filesBeside(dbPath)).toEqual([
      'documents.db',
      path.basename(kept),
      `${path.basename(kept)}-journal`,
    ]); // no .sha256: its bytes change once SQLite rolls the journal back, as advised
    expect(fileSha256(kept)).toBe(before['documents.db']);
    expect(fileSha256(`${kept}-journal`)).toBe(before['documents.db-journal']);
    expect(contentHash(dbPath)).toBe(contentHash(backup));

    // As said: opened read-write, the copy is rolled back to its last commit, and its journal goes.
    expect(runCli(['verify', '--db', kept]).status).toBe(1); // not applied; rolled back all the same
    expect(filesBeside(dbPath)).toEqual(['documents.db', path.basename(kept)]);
    expect(uncommittedRows(kept)).toBe(0);
    // Rolled back, it restores (a checksum of the bytes it was kept with would refuse it).
    expect(runCli(['restore', '--db', dbPath, '--from', kept, '--dry-run']).status).toBe(0);
  });

  it('restore says what a backup with an unfinished transaction is and what to do, refuses it (BACKUP_INVALID), and the advice works', async () => {
    const dbPath = sampleDb();
    const backup = path.join(tempDir(), 'copy.db');
    fs.copyFileSync(sampleDb({ seed: 2 }), backup);
    await leaveHotJournal(backup);
    const before = { db: filesWithBytes(dbPath), backup: filesWithBytes(backup) };

    const refused = runCli(['restore', '--db', dbPath, '--from', backup, '--json']);
    expect(refused.status).toBe(2);
    expect(jsonOf(refused).error).toEqual({
      code: 'BACKUP_INVALID',
      message: `The backup ${backup} has an unfinished transaction's journal beside it (${backup}-journal: a writer stopped mid-transaction, or is still writing), which SQLite rolls back the next time it opens the backup read-write: once nothing writes to it, open it so (gao-migrate verify --db ${backup} does), then restore again; nothing was changed.`,
      retryable: false,
    });
    expect(hasStackTrace(refused.stdout + refused.stderr)).toBe(false);
    expect({ db: filesWithBytes(dbPath), backup: filesWithBytes(backup) }).toEqual(before);

    expect(runCli(['verify', '--db', backup]).status).toBe(1); // not applied; rolled back all the same
    expect(filesBeside(backup)).toEqual(['copy.db']);
    expect(runCli(['restore', '--db', dbPath, '--from', backup]).status).toBe(0);
    expect(uncommittedRows(dbPath)).toBe(0);
  });

  it('restore refuses where the database is gone but its hot journal is left (ORPHAN_JOURNAL), exit 2, nothing changed', async () => {
    const backup = sampleDb({ seed: 2 });
    const dbPath = sampleDb();
    await leaveHotJournal(dbPath);
    fs.rmSync(dbPath);
    const before = filesWithBytes(dbPath);

    const restore = runCli(['restore', '--db', dbPath, '--from', backup]);
    expect(restore.status).toBe(2);
    expect(restore.stdout).toContain(
      `Error ORPHAN_JOURNAL: The rollback journal ${dbPath}-journal is left beside ${dbPath}, which is gone: SQLite would replay it into the restored file, so move it away (keep it if the database it came from matters), then restore again; nothing was changed.`,
    );
    expect(hasStackTrace(restore.stdout + restore.stderr)).toBe(false);
    expect(filesWithBytes(dbPath)).toEqual(before);
  });
});
