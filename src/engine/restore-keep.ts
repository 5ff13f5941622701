import fs from 'node:fs';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { backupModeOf, createBackup, fsyncDirectory, matchOwnerAndMode, publish } from './backup.js';
import { fsyncFile, sha256OfFile } from './backup-check.js';
import { ErrorCode, MigrationError, toMigrationError } from './errors.js';
import { assertQuickCheck, openDatabase, readsWithoutTrace } from './preconditions.js';

/**
 * Keeping the file a restore replaces: a checked backup when it is a sound database, otherwise a byte copy with
 * its journal or WAL beside it (restore.ts).
 */

export interface KeptFile {
  path: string;
  problem: string | null;
}

/** What a file that SQLite cannot use as a database, or that fails its check, is refused with. */
const DAMAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.NOT_A_DATABASE,
  ErrorCode.DB_CORRUPT,
  ErrorCode.HOT_JOURNAL,
]);

/**
 * Keeps the current file before it is replaced: as a checked backup when it is a sound database, otherwise
 * byte for byte. Restoring is what one does to a damaged database, so damage must not stand in the way.
 */
export function keepCurrentFile(dbPath: string, keptPath: string, at: Date, busyTimeoutMs: number): KeptFile {
  try {
    keepSoundDatabase(dbPath, keptPath, at, busyTimeoutMs);
    return { path: keptPath, problem: null };
  } catch (error) {
    if (!(error instanceof MigrationError && DAMAGE_CODES.has(error.code))) throw error;
    keepDamagedFile(dbPath, keptPath);
    return { path: keptPath, problem: problemOf(error, dbPath) };
  }
}

/**
 * Copies the current database aside under the write lock, after folding its WAL into it, so that the copy is
 * complete and no stale WAL is left to be replayed into the restored file.
 */
function keepSoundDatabase(dbPath: string, keptPath: string, at: Date, busyTimeoutMs: number): void {
  if (fs.existsSync(keptPath)) {
    throw new MigrationError(
      ErrorCode.BACKUP_EXISTS,
      `A file named ${keptPath} already exists; nothing was changed.`,
    );
  }
  if (
    ['-wal', '-journal'].some(
      (suffix) => (fs.statSync(`${dbPath}${suffix}`, { throwIfNoEntry: false })?.size ?? 0) > 0,
    )
  ) {
    // A writable connection writes the WAL's frames into the file (by the checkpoint below or when it closes), or
    // rolls a hot journal back into it: prove the database sound first, read-only, so that a damaged one, or one
    // a writer left mid-transaction, is kept exactly as found, its WAL or journal beside it.
    checkSound(dbPath, busyTimeoutMs);
  }
  const db = openDatabase(dbPath, { readonly: false, busyTimeoutMs });
  try {
    const wal = String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    if (wal) {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (result?.busy) {
        throw new MigrationError(
          ErrorCode.DB_LOCKED,
          `${dbPath} is in use by another process; close it and restore again.`,
        );
      }
      assertNoOtherConnection(db, dbPath);
    }
    db.exec('BEGIN IMMEDIATE');
    try {
      // The same checked backup as before a migration: written under a temporary name, flushed to disk, hashed,
      // quick_checked, then linked to its name. The restore replaces the database only after that.
      createBackup(db, dbPath, 'pre_restore_backup', at);
    } finally {
      db.exec('ROLLBACK');
    }
  } catch (error) {
    throw toMigrationError(error, ErrorCode.IO_ERROR, `Cannot keep a copy of ${dbPath}`);
  } finally {
    db.close();
  }
}

/**
 * Refuses a WAL database that another connection has open, idle or not. That connection keeps the replaced file
 * open but shares the `-wal` and `-shm` beside it by name with the restored file: its next write would land in
 * the restored file's WAL, and readers would take those pages for the restored database's (a corrupt database).
 * Every connection to a WAL database holds a shared lock on it for as long as it is open, so only a connection
 * with none beside it can take the exclusive lock (`locking_mode = EXCLUSIVE`), which it keeps until it closes.
 */
function assertNoOtherConnection(db: Database, dbPath: string): void {
  db.pragma('locking_mode = EXCLUSIVE');
  try {
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
      throw new MigrationError(
        ErrorCode.DB_LOCKED,
        `${dbPath} is in use by another process, which would go on writing into the restored database's write-ahead log; close it and restore again.`,
      );
    }
    throw error;
  }
}

/**
 * Keeps a file SQLite cannot vouch for exactly as it is: copied, flushed, compared byte for byte and linked to its
 * name, never over another file. Its rollback journal or WAL goes with it (renamed beside the copy), so that
 * neither is replayed into the restored database; the WAL index is rebuilt from the WAL, so it is removed. No
 * SQLite connection is open on the file in this process, so copying it through other descriptors is safe.
 */
function keepDamagedFile(dbPath: string, keptPath: string): void {
  const temporary = `${keptPath}.partial-${process.pid}`;
  try {
    fs.copyFileSync(dbPath, temporary, fs.constants.COPYFILE_EXCL);
    const current = fs.statSync(dbPath);
    matchOwnerAndMode(temporary, current, backupModeOf(current));
    fsyncFile(temporary);
    const sha256 = sha256OfFile(temporary);
    if (sha256 !== sha256OfFile(dbPath)) {
      throw new MigrationError(
        ErrorCode.BACKUP_FAILED,
        `The copy of ${dbPath} made before restoring differs from it; nothing was changed.`,
      );
    }
    // With the journal or WAL it needs beside it, the copy's bytes change the first time SQLite opens it
    // read-write (it replays them, as the output advises): a checksum of them would then refuse its restore.
    const replayed = ['-journal', '-wal'].some(
      (suffix) => (fs.statSync(`${dbPath}${suffix}`, { throwIfNoEntry: false })?.size ?? 0) > 0,
    );
    publish(temporary, keptPath, replayed ? null : sha256);
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  for (const suffix of ['-journal', '-wal']) {
    const journal = `${dbPath}${suffix}`;
    if (fs.existsSync(journal)) {
      fsyncFile(journal);
      fs.renameSync(journal, `${keptPath}${suffix}`);
    }
  }
  fs.rmSync(`${dbPath}-shm`, { force: true });
  fsyncDirectory(path.dirname(dbPath));
}

/**
 * For a dry run: why the file in place is not a sound database (what `keepCurrentFile` would say), or null. Reads
 * it on a read-only connection and writes nothing.
 */
export function replacedFileProblemOf(dbPath: string, busyTimeoutMs: number): string | null {
  try {
    // Read-write where that leaves no -wal or -shm behind (see readsWithoutTrace); it writes nothing either way.
    checkSound(dbPath, busyTimeoutMs, !readsWithoutTrace(dbPath));
    return null;
  } catch (error) {
    if (!(error instanceof MigrationError && DAMAGE_CODES.has(error.code))) throw error;
    return problemOf(error, dbPath);
  }
}

/**
 * `quick_check` on a connection that only reads (read-only unless told otherwise), which writes nothing to the
 * file; throws what `openDatabase` does.
 */
function checkSound(dbPath: string, busyTimeoutMs: number, readonly = true): void {
  const db = openDatabase(dbPath, { readonly, busyTimeoutMs });
  try {
    assertQuickCheck(db, dbPath);
  } finally {
    db.close();
  }
}

/**
 * Said of the file that is replaced, once the restore changed it: "nothing was changed" no longer holds. A hot
 * journal is no damage: the sentence the engine gives elsewhere (about read-only connections and verify) would
 * not say what it means here, so it is said for what it is.
 */
function problemOf(error: MigrationError, dbPath: string): string {
  if (error.code === ErrorCode.HOT_JOURNAL) {
    return `${error.code}: ${dbPath}-journal beside it holds a transaction a writer left unfinished (it stopped mid-transaction), which SQLite rolls back the next time it opens the file read-write.`;
  }
  return `${error.code}: ${error.message.replace(/[;,]? nothing was changed\.$/i, '.')}`;
}
