import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { backupPathFor, fsyncDirectory } from './backup.js';
import { fsyncFile, inspectDatabaseFile, sha256OfFile } from './backup-check.js';
import { ErrorCode, MigrationError, toMigrationError } from './errors.js';
import { assertDatabaseFile, openDatabase } from './preconditions.js';

export interface RestoreInput {
  dbPath: string;
  /** The backup to put in place. */
  from: string;
  busyTimeoutMs?: number;
  now?: () => Date;
}

export interface RestoreResult {
  ok: boolean;
  op: 'restore';
  db: string;
  status: 'restored' | 'failed';
  restoredFrom: string;
  /** Where the file that was in place before the restore was kept; null when there was none. */
  backupPath: string | null;
  sha256: string | null;
  durationMs: number;
  error: { code: string; message: string; retryable: boolean } | null;
}

/**
 * Puts a backup in place of a database: checks the backup, keeps the current file as
 * `<stem>.pre_restore_backup_<ts>.db`, then copies the backup to a temporary name beside the database and renames
 * it over the database (atomic on one file system). Never throws.
 *
 * Stop every process that has the database open first: a process that keeps its connection would go on with the
 * replaced file.
 */
export function restoreBackup(input: RestoreInput): RestoreResult {
  const started = performance.now();
  const dbPath = path.resolve(input.dbPath);
  const from = path.resolve(input.from);
  let kept: string | null = null;
  try {
    if (isSameFile(from, dbPath)) {
      throw new MigrationError(
        ErrorCode.INVALID_INPUT,
        `The backup ${from} is the database ${dbPath} itself: there is nothing to restore, and nothing was changed.`,
      );
    }
    assertBackupUsable(from);
    if (fs.existsSync(dbPath)) kept = keepCurrentFile(dbPath, input);
    const temporary = `${dbPath}.restore-partial-${process.pid}`;
    try {
      fs.copyFileSync(from, temporary, fs.constants.COPYFILE_EXCL);
      fsyncFile(temporary);
      fs.renameSync(temporary, dbPath);
      fsyncDirectory(path.dirname(dbPath));
    } finally {
      fs.rmSync(temporary, { force: true });
    }
    return {
      ok: true,
      op: 'restore',
      db: dbPath,
      status: 'restored',
      restoredFrom: from,
      backupPath: kept,
      sha256: sha256OfFile(dbPath),
      durationMs: elapsed(started),
      error: null,
    };
  } catch (error) {
    const failure = toMigrationError(error, ErrorCode.IO_ERROR, `Restoring ${dbPath} from ${from} failed`);
    const where = kept ? ` The file that was in place is kept at ${kept}.` : '';
    return {
      ok: false,
      op: 'restore',
      db: dbPath,
      status: 'failed',
      restoredFrom: from,
      backupPath: kept,
      sha256: null,
      durationMs: elapsed(started),
      error: { code: failure.code, message: `${failure.message}${where}`, retryable: failure.retryable },
    };
  }
}

/** Both names lead to one file (the same path, a hard link or a symbolic link); false when either is missing. */
function isSameFile(a: string, b: string): boolean {
  const first = fs.statSync(a, { throwIfNoEntry: false });
  const second = fs.statSync(b, { throwIfNoEntry: false });
  return first !== undefined && second !== undefined && first.dev === second.dev && first.ino === second.ino;
}

function assertBackupUsable(from: string): void {
  try {
    assertDatabaseFile(from);
  } catch (error) {
    const reason = error instanceof MigrationError ? error.message : String(error);
    throw new MigrationError(
      ErrorCode.BACKUP_INVALID,
      `The backup cannot be restored: ${reason} Nothing was changed.`,
    );
  }
  const problem = inspectDatabaseFile(from);
  if (problem) {
    throw new MigrationError(
      ErrorCode.BACKUP_INVALID,
      `The backup ${from} fails its check (${problem}); nothing was changed.`,
    );
  }
}

/**
 * Copies the current database aside under the write lock, after folding its WAL into it, so that the copy is
 * complete and no stale WAL is left to be replayed into the restored file.
 */
function keepCurrentFile(dbPath: string, input: RestoreInput): string {
  const keptPath = backupPathFor(dbPath, 'pre_restore_backup', (input.now ?? (() => new Date()))());
  if (fs.existsSync(keptPath)) {
    throw new MigrationError(
      ErrorCode.BACKUP_EXISTS,
      `A file named ${keptPath} already exists; nothing was changed.`,
    );
  }
  const db = openDatabase(dbPath, { readonly: false, busyTimeoutMs: input.busyTimeoutMs ?? 5_000 });
  try {
    if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal') {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (result?.busy) {
        throw new MigrationError(
          ErrorCode.DB_LOCKED,
          `${dbPath} is in use by another process; close it and restore again.`,
        );
      }
    }
    db.exec('BEGIN IMMEDIATE');
    try {
      // Through SQLite's own descriptor: opening and closing another descriptor of the file in this process
      // would drop SQLite's POSIX locks on it (see copyLockedDatabase in backup.ts).
      fs.writeFileSync(keptPath, db.serialize(), { flag: 'wx' });
    } finally {
      db.exec('ROLLBACK');
    }
  } catch (error) {
    throw toMigrationError(error, ErrorCode.IO_ERROR, `Cannot keep a copy of ${dbPath}`);
  } finally {
    db.close();
  }
  return keptPath;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
