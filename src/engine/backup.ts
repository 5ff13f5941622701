import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database, { type Database as DatabaseHandle } from 'better-sqlite3';
import { ErrorCode, MigrationError, messageOf } from './errors.js';
import { summarizeCheck } from './preconditions.js';
import type { BackupInfo } from './types.js';

export type BackupKind = 'backup' | 'rollback_backup' | 'pre_restore_backup';

const HASH_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * `documents.db` + `backup` + 2026-11-24T10:15:00.123Z -> `documents.backup_20261124T101500123Z.db`, beside the database.
 */
export function backupPathFor(dbPath: string, kind: BackupKind, at: Date): string {
  const parsed = path.parse(dbPath);
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  return path.join(parsed.dir, `${parsed.name}.${kind}_${stamp}${parsed.ext || '.db'}`);
}

/**
 * Writes a checked backup of the database `db` is connected to. The caller must hold the write lock
 * (`BEGIN IMMEDIATE`), so the file cannot change while it is read.
 *
 * - Rollback-journal databases, and WAL databases whose WAL is empty, are copied page for page.
 * - WAL databases with frames not yet checkpointed are written from SQLite's own page image (`serialize`).
 *
 * The copy goes to a temporary name, is flushed, checked (`quick_check`, page count, learning count) and only
 * then linked to its final name, which must not exist: no file ever looks like a complete backup unless it is.
 */
export function createBackup(db: DatabaseHandle, dbPath: string, kind: BackupKind, at: Date): BackupInfo {
  const finalPath = backupPathFor(dbPath, kind, at);
  if (fs.existsSync(finalPath)) {
    throw new MigrationError(
      ErrorCode.BACKUP_EXISTS,
      `A file named ${finalPath} already exists; backups are never overwritten, so nothing was changed.`,
    );
  }
  const tempPath = `${finalPath}.partial-${process.pid}`;
  try {
    const method = writeSnapshot(db, dbPath, tempPath);
    fsyncFile(tempPath);
    const sha256 = sha256OfFile(tempPath);
    const problem = findProblem(tempPath, expectedShape(db));
    removeSidecars(tempPath);
    if (problem?.reason === 'quick_check') {
      // The copy is page-exact and was taken under the write lock: its damage is the database's own.
      throw new MigrationError(
        ErrorCode.DB_CORRUPT,
        `${dbPath} is corrupt: a page-exact copy of it fails SQLite's quick_check (${problem.detail}); nothing was changed.`,
      );
    }
    if (problem) throw backupCheckFailed(problem);
    publish(tempPath, finalPath);
    return { path: finalPath, sha256, bytes: fs.statSync(finalPath).size, method };
  } catch (error) {
    fs.rmSync(tempPath, { force: true });
    removeSidecars(tempPath);
    if (error instanceof MigrationError) throw error;
    const code =
      (error as NodeJS.ErrnoException).code === 'ENOSPC'
        ? ErrorCode.INSUFFICIENT_DISK_SPACE
        : ErrorCode.BACKUP_FAILED;
    throw new MigrationError(code, `The backup ${finalPath} could not be written: ${messageOf(error)}.`, {
      cause: error,
    });
  }
}

/**
 * Opening a WAL-mode copy, even read-only, makes SQLite create `-wal` and `-shm` files beside it, and a read-only
 * connection leaves them behind. The temporary copy is ours, so are they.
 */
function removeSidecars(filePath: string): void {
  fs.rmSync(`${filePath}-wal`, { force: true });
  fs.rmSync(`${filePath}-shm`, { force: true });
}

function writeSnapshot(db: DatabaseHandle, dbPath: string, tempPath: string): BackupInfo['method'] {
  const journalMode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
  const walPath = `${dbPath}-wal`;
  const walHasFrames = journalMode === 'wal' && fs.existsSync(walPath) && fs.statSync(walPath).size > 0;
  if (!walHasFrames) {
    fs.copyFileSync(dbPath, tempPath, fs.constants.COPYFILE_EXCL);
    return 'copy';
  }
  fs.writeFileSync(tempPath, db.serialize(), { flag: 'wx' });
  return 'serialize';
}

interface BackupShape {
  pageCount: number;
  pageSize: number;
  schemaObjects: number;
}

function expectedShape(db: DatabaseHandle): BackupShape {
  return {
    pageCount: Number(db.pragma('page_count', { simple: true })),
    pageSize: Number(db.pragma('page_size', { simple: true })),
    schemaObjects: (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n,
  };
}

/**
 * Opens a backup on its own and proves it usable: SQLite header, `quick_check` clean, and the same page count
 * and schema size as the source it was taken from. Throws `BACKUP_FAILED` naming what differs.
 */
export function checkBackup(backupPath: string, expected?: BackupShape): void {
  const problem = findProblem(backupPath, expected);
  if (problem) throw backupCheckFailed(problem);
}

function backupCheckFailed(problem: FileProblem): MigrationError {
  return new MigrationError(
    ErrorCode.BACKUP_FAILED,
    `The backup did not pass its check (${describeProblem(problem)}); nothing was changed.`,
  );
}

function describeProblem(problem: FileProblem): string {
  return problem.reason === 'quick_check' ? `quick_check reported: ${problem.detail}` : problem.detail;
}

/** Returns why the file is not a sound database (or differs from `expected`), or null when it is. */
export function inspectDatabaseFile(filePath: string, expected?: BackupShape): string | null {
  const problem = findProblem(filePath, expected);
  return problem ? describeProblem(problem) : null;
}

interface FileProblem {
  reason: 'open' | 'quick_check' | 'shape';
  detail: string;
}

function findProblem(filePath: string, expected?: BackupShape): FileProblem | null {
  let backup: DatabaseHandle | undefined;
  try {
    backup = new Database(filePath, { readonly: true, fileMustExist: true });
    const quick = backup.pragma('quick_check', { simple: true });
    if (quick !== 'ok') return { reason: 'quick_check', detail: summarizeCheck(quick) };
    if (expected) {
      const actual = expectedShape(backup);
      if (actual.pageSize !== expected.pageSize || actual.pageCount !== expected.pageCount) {
        return {
          reason: 'shape',
          detail: `${actual.pageCount} pages of ${actual.pageSize} bytes, expected ${expected.pageCount} of ${expected.pageSize}`,
        };
      }
      if (actual.schemaObjects !== expected.schemaObjects) {
        return {
          reason: 'shape',
          detail: `${actual.schemaObjects} schema objects, expected ${expected.schemaObjects}`,
        };
      }
    }
    return null;
  } catch (error) {
    return { reason: 'open', detail: messageOf(error) };
  } finally {
    backup?.close();
  }
}

/** Links the checked temporary file to its final name (fails if that exists), then removes the temporary name. */
function publish(tempPath: string, finalPath: string): void {
  try {
    fs.linkSync(tempPath, finalPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new MigrationError(
        ErrorCode.BACKUP_EXISTS,
        `A file named ${finalPath} already exists; backups are never overwritten, so nothing was changed.`,
      );
    }
    throw error;
  }
  fs.rmSync(tempPath, { force: true });
  fsyncDirectory(path.dirname(finalPath));
}

export function sha256OfFile(filePath: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
  const fd = fs.openSync(filePath, 'r');
  try {
    for (;;) {
      const read = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function fsyncFile(filePath: string): void {
  const fd = fs.openSync(filePath, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a new directory entry durable. Windows cannot open directories; NTFS journals the entry itself. */
export function fsyncDirectory(directory: string): void {
  if (process.platform === 'win32') return;
  const fd = fs.openSync(directory, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
