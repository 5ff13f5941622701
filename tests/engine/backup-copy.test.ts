import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { backupPathFor, createBackup } from '../../src/engine/backup.js';
import { ErrorCode } from '../../src/engine/errors.js';
import { Migrator } from '../../src/engine/migrator.js';
import { fileSha256, filesBeside, fixedClock, sampleDb, tempDir, withDb } from '../helpers/sqlite.js';

/** Another connection cannot start writing: the engine's connection still holds SQLite's write lock. */
function expectWriteLockHeld(dbPath: string): void {
  const other = new Database(dbPath, { timeout: 50 });
  try {
    expect(() => other.exec('BEGIN IMMEDIATE')).toThrow(/locked|busy/i);
  } finally {
    other.close();
  }
}

describe('page copies of a locked database', () => {
  it("copies the file under the write lock without dropping SQLite's lock on it", () => {
    const dbPath = sampleDb({ learnings: 200 });
    const before = fileSha256(dbPath);
    const db = new Database(dbPath);
    try {
      db.exec('BEGIN IMMEDIATE');
      const backup = createBackup(db, dbPath, 'backup', new Date('2026-11-24T10:15:00.123Z'), {
        copyFile: true,
      });
      expect(backup.method).toBe('copy');
      expect(backup.sha256).toBe(before);
      // The copy ran in another process: this connection still holds the write lock, so another writer waits.
      expectWriteLockHeld(dbPath);
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
  });

  it("copies a WAL database whose WAL holds frames and folds them in: SQLite's own image, byte for byte", () => {
    const dbPath = sampleDb({ learnings: 200, wal: true });
    const writer = new Database(dbPath);
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec("UPDATE learning_index SET topic = 'only in the wal' WHERE id <= 50");
    writer.exec(
      "INSERT INTO learning_index (topic, category, learning, indexed_at, created_at) SELECT topic || '+', category, learning, indexed_at, created_at FROM learning_index",
    );
    expect(fs.statSync(`${dbPath}-wal`).size).toBeGreaterThan(0);
    const db = new Database(dbPath);
    try {
      db.exec('BEGIN IMMEDIATE');
      const image = createHash('sha256').update(db.serialize()).digest('hex');
      const backup = createBackup(db, dbPath, 'backup', new Date('2026-11-24T10:15:00.123Z'), {
        copyFile: true,
      });
      expect(backup.method).toBe('copy-wal');
      expect(backup.sha256).toBe(image);
      expect(fileSha256(backup.path)).toBe(image);
      // One self-contained file and its checksum: no -wal, -shm or partial copy beside it.
      expect(filesBeside(dbPath).filter((name) => name.includes('backup'))).toEqual([
        path.basename(backup.path),
        `${path.basename(backup.path)}.sha256`,
      ]);
      withDb(
        backup.path,
        (copy) => {
          expect(
            copy.prepare("SELECT count(*) FROM learning_index WHERE topic = 'only in the wal'").pluck().get(),
          ).toBe(50);
          expect(copy.prepare('SELECT count(*) FROM learning_index').pluck().get()).toBe(400);
        },
        true,
      );
      // The source is untouched: its WAL still holds the frames, and its write lock is still held.
      expect(fs.statSync(`${dbPath}-wal`).size).toBeGreaterThan(0);
      expectWriteLockHeld(dbPath);
    } finally {
      db.exec('ROLLBACK');
      db.close();
      writer.close();
    }
  });

  it('ignores a -wal file a crashed run left beside its temporary name', () => {
    const dbPath = sampleDb({ learnings: 200 });
    const before = fileSha256(dbPath);
    const at = '2026-11-24T10:15:00.123Z';
    // The WAL of another database, with frames, where SQLite would look for the copy's WAL.
    const other = sampleDb({ learnings: 20, wal: true });
    const otherWriter = new Database(other);
    otherWriter.pragma('wal_autocheckpoint = 0');
    otherWriter.exec('DELETE FROM learning_index');
    const stale = `${backupPathFor(dbPath, 'backup', new Date(at))}.partial-${process.pid}-wal`;
    fs.copyFileSync(`${other}-wal`, stale);
    otherWriter.close();

    const result = new Migrator({ largeDatabaseBytes: 0, now: fixedClock(at) }).up({ dbPath });

    expect(result.error).toBeNull();
    expect(result.backupSha256).toBe(before);
    expect(fileSha256(result.backupPath as string)).toBe(before);
    expect(fs.existsSync(stale)).toBe(false);
  });

  it('refuses to write a backup into a directory squatting its temporary name', () => {
    const dbPath = sampleDb({ learnings: 200 });
    const at = '2026-11-24T10:15:00.123Z';
    // A directory squats the temporary name the copy must write to.
    const squatter = `${backupPathFor(dbPath, 'backup', new Date(at))}.partial-${process.pid}`;
    fs.mkdirSync(squatter);
    const before = fileSha256(dbPath);

    const result = new Migrator({ largeDatabaseBytes: 0, now: fixedClock(at) }).up({ dbPath });

    expect(result.error?.code).toBe(ErrorCode.BACKUP_FAILED);
    expect(result.error?.message).toMatch(
      /temporary name .* is taken by something that is not a file; nothing was changed\.$/,
    );
    expect(fileSha256(dbPath)).toBe(before);
    fs.rmdirSync(squatter);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('replaces a partial copy left by a crashed run under the same temporary name', () => {
    const dbPath = sampleDb({ learnings: 200 });
    const at = '2026-11-24T10:15:00.123Z';
    const leftover = `${backupPathFor(dbPath, 'backup', new Date(at))}.partial-${process.pid}`;
    fs.writeFileSync(leftover, 'half a copy');

    const result = new Migrator({ largeDatabaseBytes: 0, now: fixedClock(at) }).up({ dbPath });

    expect(result.status).toBe('applied');
    expect(fileSha256(result.backupPath as string)).toBe(result.backupSha256);
    expect(fs.existsSync(leftover)).toBe(false);
  });
});

describe('partial copies left by killed runs', () => {
  it('removes old partials of dead processes and keeps recent ones and those of live processes', () => {
    const dbPath = sampleDb({ learnings: 100 });
    const dir = path.dirname(dbPath);
    const deadPid = 2 ** 22 + 12345; // above Linux's pid_max: no such process
    const old = path.join(dir, `documents.backup_20260101T000000000Z.db.partial-${deadPid}`);
    const recent = path.join(dir, `documents.backup_20260102T000000000Z.db.partial-${deadPid}`);
    const live = path.join(dir, `documents.backup_20260103T000000000Z.db.partial-${process.ppid}`);
    const unrelated = path.join(dir, `other.backup_20260101T000000000Z.db.partial-${deadPid}`);
    const oldWal = `${old}-wal`;
    const oldRestore = `${dbPath}.restore.partial-${deadPid}`;
    for (const file of [old, oldWal, oldRestore, recent, live, unrelated]) fs.writeFileSync(file, 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const file of [old, oldWal, oldRestore, live, unrelated])
      fs.utimesSync(file, twoHoursAgo, twoHoursAgo);

    expect(new Migrator().up({ dbPath }).status).toBe('applied');

    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(oldWal)).toBe(false);
    expect(fs.existsSync(oldRestore)).toBe(false);
    expect([recent, live, unrelated].every((file) => fs.existsSync(file))).toBe(true);
  });
});

describe('a database reached through a symbolic link', () => {
  it('backs up the WAL SQLite keeps beside the file the link leads to, and puts the backup there', () => {
    const dbPath = sampleDb({ learnings: 200, wal: true });
    const link = path.join(tempDir(), 'documents.db');
    fs.symlinkSync(dbPath, link);
    const writer = new Database(link);
    writer.pragma('wal_autocheckpoint = 0');
    // A reader whose snapshot predates the change keeps its frames in the WAL (beside the real file, where
    // SQLite puts it), so the backup must copy that WAL too.
    const reader = new Database(dbPath);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM learning_index').get();
    writer.exec("UPDATE learning_index SET learning = 'only in the wal' WHERE id <= 50");
    writer.close();
    expect(fs.statSync(`${dbPath}-wal`).size).toBeGreaterThan(0);
    expect(fs.existsSync(`${link}-wal`)).toBe(false);
    try {
      // largeDatabaseBytes 1: the backup is a page copy of the file, as on a database of 64 MiB and more.
      const result = new Migrator({ largeDatabaseBytes: 1, now: fixedClock() }).up({ dbPath: link });
      expect(result).toMatchObject({ ok: true, status: 'applied' });
      withDb(
        result.backupPath as string,
        (copy) => {
          expect(
            copy
              .prepare("SELECT count(*) FROM learning_index WHERE learning = 'only in the wal'")
              .pluck()
              .get(),
          ).toBe(50);
        },
        true,
      );
      expect(result.db).toBe(dbPath);
      expect(result.backupPath).toBe(backupPathFor(dbPath, 'backup', fixedClock()()));
      expect(filesBeside(link)).toEqual(['documents.db']);
    } finally {
      reader.exec('COMMIT');
      reader.close();
    }
  });
});
