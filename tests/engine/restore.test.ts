import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/engine/errors.js';
import { Migrator } from '../../src/engine/migrator.js';
import { restoreBackup } from '../../src/engine/restore.js';
import { refuseRestoreEarly } from '../../src/engine/restore-input.js';
import {
  changeFourBytesInARecord,
  contentHash,
  fileSha256,
  filesBeside,
  fixedClock,
  leaveHotJournal,
  sampleDb,
  sha256,
  tempDir,
} from '../helpers/sqlite.js';

describe('restoreBackup', () => {
  it('puts the backup in place and keeps the current file as a pre_restore_backup', () => {
    const dbPath = sampleDb();
    const original = contentHash(dbPath);
    const up = new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
    const applied = contentHash(dbPath);
    const result = restoreBackup({ dbPath, from: up.backupPath as string, now: fixedClock() });
    expect(result).toMatchObject({ ok: true, status: 'restored', error: null, restoredFrom: up.backupPath });
    expect(result.backupPath).toBe(
      path.join(path.dirname(dbPath), 'documents.pre_restore_backup_20261124T101500123Z.db'),
    );
    expect(contentHash(dbPath)).toBe(original);
    expect(result.sha256).toBe(fileSha256(dbPath));
    expect(contentHash(result.backupPath as string)).toBe(applied);
    expect(filesBeside(dbPath)).toEqual([
      'documents.backup_20260101T000000000Z.db',
      'documents.backup_20260101T000000000Z.db.sha256',
      'documents.db',
      'documents.pre_restore_backup_20261124T101500123Z.db',
      'documents.pre_restore_backup_20261124T101500123Z.db.sha256',
    ]);
  });

  it('restores the file a symbolic link leads to, and leaves the link a link', () => {
    const dbPath = sampleDb();
    const original = contentHash(dbPath);
    const link = path.join(tempDir(), 'link.db');
    fs.symlinkSync(dbPath, link);
    const up = new Migrator().up({ dbPath: link });
    const result = restoreBackup({ dbPath: link, from: up.backupPath as string, now: fixedClock() });
    expect(result).toMatchObject({ ok: true, db: dbPath });
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(contentHash(dbPath)).toBe(original);
    expect(path.dirname(result.backupPath as string)).toBe(path.dirname(dbPath));
  });

  it('leaves nothing beside a WAL-mode backup it checked', () => {
    const dbPath = sampleDb({ wal: true });
    const up = new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
    const backup = up.backupPath as string;
    const bytes = fileSha256(backup);
    const result = restoreBackup({ dbPath, from: backup, now: fixedClock() });
    expect(result.ok).toBe(true);
    expect(fileSha256(backup)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual([
      'documents.backup_20260101T000000000Z.db',
      'documents.backup_20260101T000000000Z.db.sha256',
      'documents.db',
      'documents.pre_restore_backup_20261124T101500123Z.db',
      'documents.pre_restore_backup_20261124T101500123Z.db.sha256',
    ]);
  });

  it('on a dry run checks the backup and the file in place, says what it would keep, and writes nothing', () => {
    const dbPath = sampleDb();
    const source = sampleDb({ seed: 2 });
    const sound = restoreBackup({ dbPath, from: source, dryRun: true, now: fixedClock() });
    expect(sound).toMatchObject({
      ok: true,
      status: 'planned',
      replacedFileProblem: null,
      backupPath: path.join(path.dirname(dbPath), 'documents.pre_restore_backup_20261124T101500123Z.db'),
      error: null,
    });
    fs.writeFileSync(dbPath, 'not a database any more');
    const listing = filesBeside(dbPath);
    const damaged = restoreBackup({ dbPath, from: source, dryRun: true });
    expect(damaged).toMatchObject({ ok: true, status: 'planned' });
    expect(damaged.replacedFileProblem).toMatch(/^NOT_A_DATABASE: /);
    expect(fs.readFileSync(dbPath, 'utf8')).toBe('not a database any more');
    expect(filesBeside(dbPath)).toEqual(listing);
  });

  it('on a dry run over a WAL database leaves no -wal or -shm behind it', () => {
    const dbPath = sampleDb({ wal: true });
    const bytes = fileSha256(dbPath);
    const planned = restoreBackup({ dbPath, from: sampleDb({ seed: 2 }), dryRun: true });
    expect(planned).toMatchObject({ ok: true, status: 'planned', replacedFileProblem: null });
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('restores where no database is left, keeping nothing', () => {
    const source = sampleDb();
    const dbPath = path.join(tempDir(), 'documents.db');
    const result = restoreBackup({ dbPath, from: source });
    expect(result).toMatchObject({ ok: true, backupPath: null });
    expect(fileSha256(dbPath)).toBe(fileSha256(source));
  });

  it('folds a WAL into the kept copy before replacing the database', () => {
    const dbPath = sampleDb({ wal: true });
    const writer = new Database(dbPath);
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec("UPDATE learning_index SET topic = 'changed in wal' WHERE id = 1");
    writer.close();
    const current = contentHash(dbPath);
    const source = sampleDb({ seed: 2 });
    const result = restoreBackup({ dbPath, from: source, now: fixedClock() });
    expect(result.ok).toBe(true);
    expect(contentHash(result.backupPath as string)).toBe(current);
    expect(contentHash(dbPath)).toBe(contentHash(source));
  });

  it('restores the transactions a WAL beside the backup holds (a `cp documents.db*` of an open database)', () => {
    const source = sampleDb({ wal: true });
    const copyDir = tempDir();
    const backup = path.join(copyDir, 'copy.db');
    const writer = new Database(source);
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec("UPDATE learning_index SET topic = 'only in the wal' WHERE id = 1");
    fs.copyFileSync(source, backup);
    fs.copyFileSync(`${source}-wal`, `${backup}-wal`);
    const expected = contentHash(source);
    writer.close();
    const backupBytes = [fileSha256(backup), fileSha256(`${backup}-wal`)];
    expect(fs.statSync(`${backup}-wal`).size).toBeGreaterThan(0);

    const dbPath = sampleDb({ seed: 2 });
    const result = restoreBackup({ dbPath, from: backup, now: fixedClock() });
    expect(result).toMatchObject({ ok: true, status: 'restored' });
    expect(filesBeside(dbPath)).toEqual([
      'documents.db',
      'documents.pre_restore_backup_20261124T101500123Z.db',
      'documents.pre_restore_backup_20261124T101500123Z.db.sha256',
    ]);
    expect(filesBeside(backup)).toEqual(['copy.db', 'copy.db-wal']);
    expect([fileSha256(backup), fileSha256(`${backup}-wal`)]).toEqual(backupBytes);
    expect(contentHash(dbPath)).toBe(expected);
  });

  it('refuses a backup that is not a database with BACKUP_INVALID, changing nothing', () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    const text = path.join(path.dirname(dbPath), 'notes.txt');
    fs.writeFileSync(text, 'hello');
    const result = restoreBackup({ dbPath, from: text });
    expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null, sha256: null });
    expect(result.error?.code).toBe(ErrorCode.BACKUP_INVALID);
    expect(result.error?.message).toMatch(
      /^The backup cannot be restored: .* is not a SQLite database .* Nothing was changed\.$/,
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db', 'notes.txt']);
  });

  it('refuses a backup that is not there with BACKUP_INVALID, in a sentence about a backup', () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    for (const from of [path.join(tempDir(), 'gone.db'), path.join(dbPath, 'inside-a-file.db')]) {
      const result = restoreBackup({ dbPath, from });
      expect(result.error, from).toEqual({
        code: ErrorCode.BACKUP_INVALID,
        message: `No backup at ${from}: the file does not exist; nothing was changed.`,
        retryable: false,
      });
    }
    const link = path.join(tempDir(), 'link.db');
    fs.symlinkSync(path.join(path.dirname(link), 'moved.db'), link);
    expect(restoreBackup({ dbPath, from: link }).error?.message).toBe(
      `No backup at ${link}: it is a symbolic link to ${path.join(path.dirname(link), 'moved.db')}, where there is no file; nothing was changed.`,
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('refuses a backup path too long for the file system with BACKUP_INVALID, in a sentence about the backup', () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    const from = path.join(path.dirname(dbPath), `${'x'.repeat(300)}.db`);
    expect(restoreBackup({ dbPath, from }).error).toEqual({
      code: ErrorCode.BACKUP_INVALID,
      message: 'The backup path is too long for this file system; nothing was changed.',
      retryable: false,
    });
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it("refuses the database's own <db>.lock as the backup with BACKUP_INVALID, leaving it", () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    fs.mkdirSync(`${dbPath}.lock`);
    const result = restoreBackup({ dbPath, from: `${dbPath}.lock` });
    expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null });
    expect(result.error).toEqual({
      code: ErrorCode.BACKUP_INVALID,
      message: `The backup cannot be restored: ${dbPath}.lock is the lock of ${dbPath} (the directory gao-migrate and its workers hold while they change the database), not a backup. Nothing was changed.`,
      retryable: false,
    });
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db', 'documents.db.lock']);
  });

  it("refuses a backup's .sha256 given as the backup with BACKUP_INVALID, naming the backup to restore from", () => {
    const dbPath = sampleDb();
    const up = new Migrator().up({ dbPath });
    const backup = up.backupPath as string;
    const before = filesBeside(dbPath).map((name) => fileSha256(path.join(path.dirname(dbPath), name)));
    const result = restoreBackup({ dbPath, from: `${backup}.sha256` });
    expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null });
    expect(result.error).toEqual({
      code: ErrorCode.BACKUP_INVALID,
      message: `The backup cannot be restored: ${backup}.sha256 is the SHA-256 checksum written beside the backup ${backup}, not a backup; restore from ${backup} itself. Nothing was changed.`,
      retryable: false,
    });
    expect(refuseRestoreEarly({ dbPath, from: `${backup}.sha256` })?.error?.message).toBe(
      result.error?.message,
    );
    expect(filesBeside(dbPath).map((name) => fileSha256(path.join(path.dirname(dbPath), name)))).toEqual(
      before,
    );
    // With the backup gone, the sentence does not send the user to it.
    fs.renameSync(backup, `${backup}.moved`);
    expect(restoreBackup({ dbPath, from: `${backup}.sha256` }).error?.message).toBe(
      `The backup cannot be restored: ${backup}.sha256 is the SHA-256 checksum written beside the backup ${backup}, not a backup; and ${backup} is not there either (moved with its checksum left behind?). Nothing was changed.`,
    );
    fs.renameSync(`${backup}.moved`, backup);
    // A SQLite database under such a name is checked, and restored, as any backup.
    fs.copyFileSync(backup, `${dbPath}.copy.backup_20261124T101500123Z.db.sha256`);
    expect(restoreBackup({ dbPath, from: `${dbPath}.copy.backup_20261124T101500123Z.db.sha256` }).ok).toBe(
      true,
    );
  });

  it('keeps a database a writer left mid-transaction byte for byte with its hot journal, on a dry run saying so', async () => {
    const dbPath = sampleDb();
    const source = sampleDb({ seed: 2 });
    await leaveHotJournal(dbPath);
    const bytes = [fileSha256(dbPath), fileSha256(`${dbPath}-journal`)];

    const planned = restoreBackup({ dbPath, from: source, dryRun: true, now: fixedClock() });
    // What it is, not the read-only wording a dry run of up gets: no damage, half a transaction SQLite undoes.
    expect(planned.replacedFileProblem).toBe(
      `HOT_JOURNAL: ${dbPath}-journal beside it holds a transaction a writer left unfinished (it stopped mid-transaction), which SQLite rolls back the next time it opens the file read-write.`,
    );
    expect([fileSha256(dbPath), fileSha256(`${dbPath}-journal`)]).toEqual(bytes);

    const result = restoreBackup({ dbPath, from: source, now: fixedClock() });
    expect(result).toMatchObject({ ok: true, status: 'restored' });
    expect(result.replacedFileProblem).toBe(planned.replacedFileProblem);
    const kept = result.backupPath as string;
    expect([fileSha256(kept), fileSha256(`${kept}-journal`)]).toEqual(bytes);
    expect(contentHash(dbPath)).toBe(contentHash(source));
  });

  it('refuses with INSUFFICIENT_DISK_SPACE when the kept copy and the restored file cannot both fit, changing nothing', () => {
    const dbPath = sampleDb();
    const source = sampleDb({ seed: 2 });
    const bytes = fileSha256(dbPath);
    const free = fs.statfsSync(path.dirname(dbPath));
    const result = restoreBackup({ dbPath, from: source, reserveBytes: free.bavail * free.bsize });
    expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null });
    expect(result.error?.code).toBe(ErrorCode.INSUFFICIENT_DISK_SPACE);
    expect(result.error?.message).toMatch(
      /^Not enough free space beside .+: .+ free, .+ needed for the copy of the file in place and the restored file; nothing was changed\.$/,
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('refuses a database in a directory that does not exist with DB_NOT_FOUND, in one sentence', () => {
    const source = sampleDb();
    const dbPath = path.join(tempDir(), 'no-such-dir', 'documents.db');
    const result = restoreBackup({ dbPath, from: source });
    expect(result.error?.code).toBe(ErrorCode.DB_NOT_FOUND);
    expect(result.error?.message).toMatch(
      /^The directory .*no-such-dir does not exist, .*; nothing was changed\.$/,
    );
    expect(fs.existsSync(path.dirname(dbPath))).toBe(false);
    // Said from the paths alone, before the CLI waits for the lock or anything reads the backup.
    expect(refuseRestoreEarly({ dbPath, from: source })?.error).toEqual(result.error);
  });

  it('refuses to restore where the database is gone but its WAL is left, which SQLite would replay into the restored file', () => {
    const source = sampleDb({ seed: 2 });
    const expected = contentHash(source);
    const dbPath = sampleDb({ wal: true });
    // A writer that died with committed changes in its WAL; then the database file alone was removed.
    const writer = new Database(dbPath);
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec("UPDATE learning_index SET topic = 'only in the old wal'");
    const wal = fs.readFileSync(`${dbPath}-wal`);
    writer.close();
    fs.rmSync(dbPath);
    fs.writeFileSync(`${dbPath}-wal`, wal);
    for (const dryRun of [true, false]) {
      const result = restoreBackup({ dbPath, from: source, dryRun, now: fixedClock() });
      expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null });
      expect(result.error?.code).toBe(ErrorCode.ORPHAN_JOURNAL);
      expect(result.error?.message).toMatch(
        /^.*documents\.db-wal is left beside .*documents\.db, which is gone: .*; nothing was changed\.$/,
      );
      expect(filesBeside(dbPath)).toEqual(['documents.db-wal']);
      expect(fileSha256(`${dbPath}-wal`)).toBe(sha256(wal));
    }
    // Moved away, it no longer stands in the way, and the restored file is the backup's.
    fs.renameSync(`${dbPath}-wal`, `${dbPath}.old-wal`);
    expect(restoreBackup({ dbPath, from: source }).ok).toBe(true);
    expect(contentHash(dbPath)).toBe(expected);
  });

  it('refuses to restore where the database is gone but the hot journal a writer left is still there', async () => {
    const source = sampleDb({ seed: 2 });
    const dbPath = sampleDb();
    await leaveHotJournal(dbPath);
    fs.rmSync(dbPath);
    const journal = fileSha256(`${dbPath}-journal`);
    const result = restoreBackup({ dbPath, from: source });
    expect(result.error?.code).toBe(ErrorCode.ORPHAN_JOURNAL);
    expect(result.error?.message).toMatch(/documents\.db-journal is left beside .*, which is gone/);
    expect(filesBeside(dbPath)).toEqual(['documents.db-journal']);
    expect(fileSha256(`${dbPath}-journal`)).toBe(journal);
    // A journal whose header is zeroed (what journal_mode PERSIST leaves after a commit) is never replayed.
    fs.writeFileSync(`${dbPath}-journal`, Buffer.alloc(4096));
    expect(restoreBackup({ dbPath, from: source })).toMatchObject({ ok: true, status: 'restored' });
    expect(contentHash(dbPath)).toBe(contentHash(source));
  });

  it("gives the restored file the owner and permissions of the file it replaces, not the backup's", () => {
    const dbPath = sampleDb();
    const up = new Migrator().up({ dbPath });
    const backup = up.backupPath as string;
    fs.chmodSync(backup, 0o644);
    fs.chmodSync(dbPath, 0o600);
    // Run as root (an operator's sudo, docker exec), the restore must not leave the project's database to root.
    if (process.getuid?.() === 0) fs.chownSync(dbPath, 65534, 65534);
    const before = fs.statSync(dbPath);
    const result = restoreBackup({ dbPath, from: backup, now: fixedClock() });
    expect(result.ok).toBe(true);
    const after = fs.statSync(dbPath);
    expect(after.mode & 0o777).toBe(0o600);
    expect([after.uid, after.gid]).toEqual([before.uid, before.gid]);
    expect(fs.statSync(backup).mode & 0o777).toBe(0o644);
  });

  it('restores over a read-only database file in a writable directory, which stays read-only', () => {
    const dbPath = sampleDb();
    const source = sampleDb({ seed: 2 });
    fs.chmodSync(dbPath, 0o444);
    const result = restoreBackup({ dbPath, from: source, now: fixedClock() });
    expect(result).toMatchObject({ ok: true, status: 'restored' });
    expect(contentHash(dbPath)).toBe(contentHash(source));
    expect(fs.statSync(dbPath).mode & 0o777).toBe(0o444);
    // The kept copy is readable by whom the database was, and its owner may write it (it is flushed through a
    // descriptor open for writing, which a non-root user could not open on a 0444 file).
    expect(fs.statSync(result.backupPath as string).mode & 0o777).toBe(0o644);
  });

  it('refuses a backup that is the database itself (a hard link to it) with INVALID_INPUT, changing nothing', () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    const link = path.join(path.dirname(dbPath), 'same.db');
    fs.linkSync(dbPath, link);
    const result = restoreBackup({ dbPath, from: link });
    expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null });
    expect(result.error?.code).toBe(ErrorCode.INVALID_INPUT);
    expect(result.error?.message).toMatch(/is the database .* itself: there is nothing to restore/);
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db', 'same.db']);
  });

  it('restores over a corrupt database, keeping it byte for byte and saying what was wrong with it', () => {
    const dbPath = sampleDb({ learnings: 1500 });
    const bytes = fs.readFileSync(dbPath);
    for (let i = Math.floor(bytes.length / 2); i < bytes.length; i++) bytes[i] = 0x33;
    fs.writeFileSync(dbPath, bytes);
    const damaged = fileSha256(dbPath);
    const source = sampleDb({ seed: 2 });
    const result = restoreBackup({ dbPath, from: source, now: fixedClock() });
    expect(result).toMatchObject({ ok: true, status: 'restored', error: null });
    expect(result.replacedFileProblem).toMatch(/^DB_CORRUPT: .* fails SQLite's quick_check \(.*\)\.$/);
    expect(result.replacedFileProblem).not.toMatch(/nothing was changed/);
    expect(fileSha256(result.backupPath as string)).toBe(damaged);
    expect(fileSha256(dbPath)).toBe(fileSha256(source));
  });

  it('restores over a damaged WAL database, keeping it and its WAL exactly as found, nothing of them replayed', () => {
    const dir = tempDir();
    const dbPath = path.join(dir, 'documents.db');
    // A WAL database as a crash leaves it, frames in its -wal, whose file is then overwritten.
    const live = sampleDb({ wal: true });
    const writer = new Database(live);
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec("UPDATE learning_index SET topic = 'only in the wal'");
    fs.copyFileSync(live, dbPath);
    fs.copyFileSync(`${live}-wal`, `${dbPath}-wal`);
    writer.close();
    fs.writeFileSync(dbPath, Buffer.alloc(fs.statSync(dbPath).size, 0x20));
    const [damaged, wal] = [fileSha256(dbPath), fileSha256(`${dbPath}-wal`)];
    const source = sampleDb({ seed: 2 });

    const result = restoreBackup({ dbPath, from: source, now: fixedClock() });
    expect(result).toMatchObject({ ok: true, status: 'restored' });
    // SQLite reads the first page from the WAL, so the file opens; its check finds the rest damaged.
    expect(result.replacedFileProblem).toMatch(/^DB_CORRUPT: .*documents\.db is corrupt/);
    const kept = result.backupPath as string;
    expect(fileSha256(kept)).toBe(damaged);
    expect(fileSha256(`${kept}-wal`)).toBe(wal);
    expect(filesBeside(dbPath)).toEqual([
      'documents.db',
      'documents.pre_restore_backup_20261124T101500123Z.db',
      'documents.pre_restore_backup_20261124T101500123Z.db-wal',
    ]); // no .sha256: its bytes change once SQLite replays the WAL kept with it
    expect(contentHash(dbPath)).toBe(contentHash(source)); // nothing of the old WAL was replayed into it
  });

  it('refuses a directory in place of the database with DB_IS_DIRECTORY, changing nothing', () => {
    const dir = tempDir();
    const result = restoreBackup({ dbPath: dir, from: sampleDb() });
    expect(result).toMatchObject({ ok: false, backupPath: null, error: { code: ErrorCode.DB_IS_DIRECTORY } });
    expect(result.error?.message).toBe(
      `${dir} is a directory, not a SQLite database file; nothing was changed.`,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses a corrupt backup with BACKUP_INVALID', () => {
    const dbPath = sampleDb();
    const corrupt = path.join(tempDir(), 'corrupt.db');
    const bytes = fs.readFileSync(sampleDb({ learnings: 1500 }));
    for (let i = Math.floor(bytes.length / 2); i < bytes.length; i++) bytes[i] = 0x33;
    fs.writeFileSync(corrupt, bytes);
    const result = restoreBackup({ dbPath, from: corrupt });
    expect(result.error?.code).toBe(ErrorCode.BACKUP_INVALID);
    expect(result.error?.message).toMatch(
      /fails its check \(quick_check reported: .*\); nothing was changed\.$/,
    );
  });

  it('refuses when the name for the kept copy is taken, changing nothing', () => {
    const dbPath = sampleDb();
    const source = sampleDb({ seed: 3 });
    const kept = path.join(path.dirname(dbPath), 'documents.pre_restore_backup_20261124T101500123Z.db');
    fs.writeFileSync(kept, 'taken');
    const bytes = fileSha256(dbPath);
    const result = restoreBackup({ dbPath, from: source, now: fixedClock() });
    expect(result.error?.code).toBe(ErrorCode.BACKUP_EXISTS);
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(fs.readFileSync(kept, 'utf8')).toBe('taken');
  });

  it('replaces a partial copy a crashed restore of a process with the same pid left', () => {
    const dbPath = sampleDb();
    const source = sampleDb({ seed: 3 });
    const leftover = `${dbPath}.restore.partial-${process.pid}`;
    fs.writeFileSync(leftover, 'half a copy');
    const result = restoreBackup({ dbPath, from: source, now: fixedClock() });
    expect(result).toMatchObject({ ok: true, status: 'restored' });
    expect(contentHash(dbPath)).toBe(contentHash(source));
    expect(filesBeside(dbPath)).toEqual([
      'documents.db',
      'documents.pre_restore_backup_20261124T101500123Z.db',
      'documents.pre_restore_backup_20261124T101500123Z.db.sha256',
    ]);
  });

  it('refuses a directory squatting its temporary name before keeping anything, changing nothing', () => {
    const dbPath = sampleDb();
    const squatter = `${dbPath}.restore.partial-${process.pid}`;
    fs.mkdirSync(squatter);
    const bytes = fileSha256(dbPath);
    const result = restoreBackup({ dbPath, from: sampleDb({ seed: 3 }), now: fixedClock() });
    expect(result).toMatchObject({ ok: false, backupPath: null, error: { code: ErrorCode.IO_ERROR } });
    expect(result.error?.message).toBe(
      `The temporary name ${squatter} is taken by something that is not a file; nothing was changed.`,
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db', path.basename(squatter)]);
  });

  it('refuses with DB_LOCKED while another process reads a WAL database that has un-checkpointed writes', () => {
    const dbPath = sampleDb({ wal: true });
    const writer = new Database(dbPath);
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec("UPDATE learning_index SET topic = 'x' WHERE id = 1");
    const reader = new Database(dbPath, { readonly: true });
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM learning_index').get();
    try {
      const result = restoreBackup({ dbPath, from: sampleDb({ seed: 4 }), busyTimeoutMs: 50 });
      expect(result.error?.code).toBe(ErrorCode.DB_LOCKED);
      expect(result.error?.retryable).toBe(true);
      expect(result.error?.message).toContain('is in use by another process');
    } finally {
      reader.exec('ROLLBACK');
      reader.close();
      writer.close();
    }
  });

  it("refuses with DB_LOCKED while another connection has a WAL database open, idle, whose writes would land in the restored file's WAL", () => {
    const dbPath = sampleDb({ wal: true });
    const source = sampleDb({ seed: 4 });
    // gao-dev left running: a connection that has read the database and sits idle, holding no transaction.
    const other = new Database(dbPath);
    other.prepare('SELECT count(*) FROM learning_index').get();
    const before = fileSha256(dbPath);
    try {
      const result = restoreBackup({ dbPath, from: source, busyTimeoutMs: 50 });
      expect(result.error?.code).toBe(ErrorCode.DB_LOCKED);
      expect(result.error?.message).toBe(
        `${dbPath} is in use by another process, which would go on writing into the restored database's write-ahead log; close it and restore again. The database is unchanged.`,
      );
      expect(fileSha256(dbPath)).toBe(before);
      expect(filesBeside(dbPath)).toEqual(['documents.db', 'documents.db-shm', 'documents.db-wal']);
    } finally {
      other.close();
    }
    const restored = restoreBackup({ dbPath, from: source });
    expect(restored.ok).toBe(true);
    expect(contentHash(dbPath)).toBe(contentHash(source));
  });

  it.each(['-wal', '-shm', '-journal'])(
    "refuses a directory where SQLite keeps the database's %s with JOURNAL_NOT_A_FILE, dry runs too, adding nothing",
    (suffix) => {
      const dbPath = sampleDb({ wal: suffix !== '-journal' });
      const source = sampleDb({ seed: 4 });
      fs.mkdirSync(`${dbPath}${suffix}`);
      const before = fileSha256(dbPath);
      for (const dryRun of [true, false]) {
        const result = restoreBackup({ dbPath, from: source, dryRun });
        expect(result.error?.code).toBe(ErrorCode.JOURNAL_NOT_A_FILE);
        expect(result.error?.message).toContain(`${dbPath}${suffix} is a directory, where SQLite keeps`);
        expect(fileSha256(dbPath)).toBe(before);
        expect(filesBeside(dbPath)).toEqual(['documents.db', `documents.db${suffix}`]);
      }
    },
  );
  it("refuses a backup whose bytes changed since it was taken (4 bytes inside a record, which SQLite's checks pass) with BACKUP_INVALID, dry runs too, changing nothing", () => {
    const dbPath = sampleDb();
    const up = new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
    const backup = up.backupPath as string;
    changeFourBytesInARecord(backup);
    const actual = fileSha256(backup);
    const bytes = [fileSha256(dbPath), actual];
    const listing = filesBeside(dbPath);
    for (const dryRun of [true, false]) {
      const result = restoreBackup({ dbPath, from: backup, dryRun, now: fixedClock() });
      expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null, backupChecksum: null });
      expect(result.error).toEqual({
        code: ErrorCode.BACKUP_INVALID,
        message: `The backup ${backup} is not the file that was written when it was taken: its SHA-256 is ${actual}, not the ${up.backupSha256} that documents.backup_20260101T000000000Z.db.sha256 beside it records, so its bytes changed since; nothing was changed (if they were changed on purpose, remove ${backup}.sha256 and restore again).`,
        retryable: false,
      });
    }
    expect([fileSha256(dbPath), fileSha256(backup)]).toEqual(bytes);
    expect(filesBeside(dbPath)).toEqual(listing);
  });

  it('restores a backup whose checksum matches, saying it was compared', () => {
    const dbPath = sampleDb();
    const up = new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
    const from = up.backupPath as string;
    const planned = restoreBackup({ dbPath, from, dryRun: true, now: fixedClock() });
    expect(planned).toMatchObject({
      ok: true,
      status: 'planned',
      backupChecksum: 'matched',
      backupChecksumProblem: null,
    });
    const result = restoreBackup({ dbPath, from, now: fixedClock() });
    expect(result).toMatchObject({
      ok: true,
      status: 'restored',
      backupChecksum: 'matched',
      backupChecksumProblem: null,
    });
  });

  it('restores a backup with no checksum beside it (an older version made it) as before', () => {
    const dbPath = sampleDb();
    const up = new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
    const from = up.backupPath as string;
    fs.rmSync(`${from}.sha256`);
    const original = contentHash(from);
    const result = restoreBackup({ dbPath, from, now: fixedClock() });
    expect(result).toMatchObject({
      ok: true,
      status: 'restored',
      backupChecksum: 'absent',
      backupChecksumProblem: null,
    });
    expect(contentHash(dbPath)).toBe(original);
  });

  it.each([
    ['empty', '', 'is empty (as a crash before its data reached the disk leaves it)'],
    [
      'cut short',
      'a3f1',
      'does not hold one line "<64 hex digits>  <file name>" (a crash may cut it short, or it is another file)',
    ],
    [
      'not a checksum',
      'PK\u0003\u0004 something else entirely\n',
      'does not hold one line "<64 hex digits>  <file name>" (a crash may cut it short, or it is another file)',
    ],
    ['a pipe', 'pipe', 'is a pipe (FIFO), not a checksum file'],
    ['a directory', 'directory', 'is a directory, not a checksum file'],
    ['a link to nothing', 'dangling link', 'is a symbolic link that leads to nothing'],
  ])(
    'restores a backup whose checksum is %s, with a warning that says what it is',
    (_what, content, reason) => {
      const dbPath = sampleDb();
      const up = new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
      const from = up.backupPath as string;
      const checksum = `${from}.sha256`;
      fs.rmSync(checksum);
      if (content === 'pipe') execFileSync('mkfifo', [checksum]);
      else if (content === 'directory') fs.mkdirSync(checksum);
      else if (content === 'dangling link') fs.symlinkSync(`${from}.gone`, checksum);
      else fs.writeFileSync(checksum, content);
      const original = contentHash(from);
      const warning = `The checksum ${checksum} beside the backup ${reason}, so the backup's bytes were not compared with it; going on with SQLite's checks alone.`;
      const planned = restoreBackup({ dbPath, from, dryRun: true, now: fixedClock() });
      expect(planned).toMatchObject({
        ok: true,
        status: 'planned',
        backupChecksum: 'unusable',
        backupChecksumProblem: warning,
      });
      const result = restoreBackup({ dbPath, from, now: fixedClock() });
      expect(result).toMatchObject({
        ok: true,
        status: 'restored',
        backupChecksum: 'unusable',
        backupChecksumProblem: warning,
      });
      expect(contentHash(dbPath)).toBe(original);
    },
  );
});

describe('refuseRestoreEarly', () => {
  it("answers as restoreBackup does where names and metadata refuse the restore, reading nothing of the backup's content", () => {
    const dbPath = sampleDb();
    const dir = path.dirname(dbPath);
    const fifo = path.join(dir, 'pipe.db');
    execFileSync('mkfifo', [fifo]);
    const tooLong = path.join(dir, `${'x'.repeat(300)}.db`);
    for (const from of [path.join(dir, 'missing.db'), tooLong, dir, fifo, `${dbPath}.lock`, dbPath]) {
      const early = refuseRestoreEarly({ dbPath, from });
      const { durationMs: _, ...answer } = early ?? { durationMs: 0 };
      const { durationMs: __, ...engine } = restoreBackup({ dbPath, from });
      expect(answer, from).toEqual(engine);
    }
    expect(filesBeside(dbPath)).toEqual(['documents.db', 'pipe.db']);
  });

  it('leaves the rest to restoreBackup: a backup to read, or a path stat cannot take', () => {
    const dbPath = sampleDb();
    const text = path.join(path.dirname(dbPath), 'notes.txt');
    fs.writeFileSync(text, 'not a database');
    expect(refuseRestoreEarly({ dbPath, from: sampleDb({ seed: 2 }) })).toBeNull();
    expect(refuseRestoreEarly({ dbPath, from: text })).toBeNull();
    expect(refuseRestoreEarly({ dbPath: path.join(text, 'documents.db'), from: dbPath })).toBeNull();
  });
});
