import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { backupPathFor, createBackup, fsyncDirectory, publish } from './backup.js';
import { fsyncFile, inspectDatabaseFile, sha256OfFile } from './backup-check.js';
import { ErrorCode, MigrationError, toMigrationError } from './errors.js';
import { assertDatabaseFile, assertQuickCheck, openDatabase } from './preconditions.js';

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
  /**
   * Why the file that was in place was not a sound database (`NOT_A_DATABASE: …`, `DB_CORRUPT: …`), when it was
   * not: it was then kept byte for byte, with its journal or WAL, instead of as a checked backup. Null otherwise.
   */
  replacedFileProblem: string | null;
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
  const dbPath = followLinks(path.resolve(input.dbPath));
  const from = path.resolve(input.from);
  let kept: KeptFile | null = null;
  try {
    if (isSameFile(from, dbPath)) {
      throw new MigrationError(
        ErrorCode.INVALID_INPUT,
        `The backup ${from} is the database ${dbPath} itself: there is nothing to restore, and nothing was changed.`,
      );
    }
    if (fs.statSync(dbPath, { throwIfNoEntry: false })?.isDirectory()) {
      throw new MigrationError(
        ErrorCode.DB_IS_DIRECTORY,
        `${dbPath} is a directory, not a SQLite database file; nothing was changed.`,
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
      backupPath: kept?.path ?? null,
      replacedFileProblem: kept?.problem ?? null,
      sha256: sha256OfFile(dbPath),
      durationMs: elapsed(started),
      error: null,
    };
  } catch (error) {
    const failure = toMigrationError(error, ErrorCode.IO_ERROR, `Restoring ${dbPath} from ${from} failed`);
    const where = kept ? ` The file that was in place is kept at ${kept.path}.` : '';
    return {
      ok: false,
      op: 'restore',
      db: dbPath,
      status: 'failed',
      restoredFrom: from,
      backupPath: kept?.path ?? null,
      replacedFileProblem: kept?.problem ?? null,
      sha256: null,
      durationMs: elapsed(started),
      error: { code: failure.code, message: `${failure.message}${where}`, retryable: failure.retryable },
    };
  }
}

/**
 * The file a symbolic link leads to: the restore replaces that file, beside which its copies go. Renaming over the
 * link itself would leave the real database as it was and the link turned into a file of its own.
 */
function followLinks(dbPath: string): string {
  if (!fs.lstatSync(dbPath, { throwIfNoEntry: false })?.isSymbolicLink()) return dbPath;
  try {
    return fs.realpathSync(dbPath);
  } catch {
    return dbPath; // a link to nothing: the restore puts a file at this path
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
  const problem = withoutNewSidecars(from, () => inspectDatabaseFile(from));
  if (problem) {
    throw new MigrationError(
      ErrorCode.BACKUP_INVALID,
      `The backup ${from} fails its check (${problem}); nothing was changed.`,
    );
  }
}

interface KeptFile {
  path: string;
  problem: string | null;
}

/** What a file that SQLite cannot use as a database, or that fails its check, is refused with. */
const DAMAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.NOT_A_DATABASE,
  ErrorCode.DB_CORRUPT,
]);

/**
 * Keeps the current file before it is replaced: as a checked backup when it is a sound database, otherwise
 * byte for byte. Restoring is what one does to a damaged database, so damage must not stand in the way.
 */
function keepCurrentFile(dbPath: string, input: RestoreInput): KeptFile {
  const at = (input.now ?? (() => new Date()))();
  const keptPath = backupPathFor(dbPath, 'pre_restore_backup', at);
  try {
    keepSoundDatabase(dbPath, keptPath, at, input);
    return { path: keptPath, problem: null };
  } catch (error) {
    if (!(error instanceof MigrationError && DAMAGE_CODES.has(error.code))) throw error;
    keepDamagedFile(dbPath, keptPath);
    // Said of the file that was replaced, after the restore changed it: "nothing was changed" no longer holds.
    const problem = error.message.replace(/[;,]? nothing was changed\.$/i, '.');
    return { path: keptPath, problem: `${error.code}: ${problem}` };
  }
}

/**
 * Copies the current database aside under the write lock, after folding its WAL into it, so that the copy is
 * complete and no stale WAL is left to be replayed into the restored file.
 */
function keepSoundDatabase(dbPath: string, keptPath: string, at: Date, input: RestoreInput): void {
  if (fs.existsSync(keptPath)) {
    throw new MigrationError(
      ErrorCode.BACKUP_EXISTS,
      `A file named ${keptPath} already exists; nothing was changed.`,
    );
  }
  const busyTimeoutMs = input.busyTimeoutMs ?? 5_000;
  if ((fs.statSync(`${dbPath}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0) {
    // A writable connection writes the WAL's frames into the file, by the checkpoint below or when it closes:
    // prove the database sound first, read-only, so that a damaged one is kept exactly as found, its WAL beside it.
    const probe = openDatabase(dbPath, { readonly: true, busyTimeoutMs });
    try {
      assertQuickCheck(probe, dbPath);
    } finally {
      probe.close();
    }
  }
  const db = openDatabase(dbPath, { readonly: false, busyTimeoutMs });
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
 * Keeps a file SQLite cannot vouch for exactly as it is: copied, flushed, compared byte for byte and linked to its
 * name, never over another file. Its rollback journal or WAL goes with it (renamed beside the copy), so that
 * neither is replayed into the restored database; the WAL index is rebuilt from the WAL, so it is removed. No
 * SQLite connection is open on the file in this process, so copying it through other descriptors is safe.
 */
function keepDamagedFile(dbPath: string, keptPath: string): void {
  const temporary = `${keptPath}.partial-${process.pid}`;
  try {
    fs.copyFileSync(dbPath, temporary, fs.constants.COPYFILE_EXCL);
    fsyncFile(temporary);
    if (sha256OfFile(temporary) !== sha256OfFile(dbPath)) {
      throw new MigrationError(
        ErrorCode.BACKUP_FAILED,
        `The copy of ${dbPath} made before restoring differs from it; nothing was changed.`,
      );
    }
    publish(temporary, keptPath);
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
 * Runs `inspect` and removes the `-wal` and `-shm` that opening a WAL-mode file read-only makes SQLite create
 * beside it, and cannot remove: the backup is left as it was found. An empty WAL holds nothing; one that was
 * there before is never touched.
 */
function withoutNewSidecars<T>(filePath: string, inspect: () => T): T {
  const created = ['-wal', '-shm']
    .map((suffix) => `${filePath}${suffix}`)
    .filter((name) => !fs.existsSync(name));
  try {
    return inspect();
  } finally {
    for (const name of created) {
      const stat = fs.statSync(name, { throwIfNoEntry: false });
      if (stat?.isFile() && (name.endsWith('-shm') || stat.size === 0)) fs.rmSync(name, { force: true });
    }
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
