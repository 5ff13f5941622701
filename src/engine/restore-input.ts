import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isBackupChecksumName } from './backup-checksum.js';
import { restoreOverBackupProblem } from './backup-name.js';
import { ErrorCode, MigrationError, toMigrationError } from './errors.js';
import {
  followLinks,
  hasSqliteHeader,
  isSameFile,
  notRegularFileError,
  notRegularFileProblem,
  whyNotThere,
} from './file-kind.js';
import type { RestoreInput, RestoreResult } from './restore.js';
import type { KeptFile } from './restore-keep.js';

/*
 * What a restore can refuse from the paths it is given, by their names and metadata alone (and the header of a file
 * named as a backup's checksum): SQLite is not loaded, so the CLI asks before it takes `<db>.lock` (a worker may hold it for minutes, and waiting
 * cannot change these answers), and `restoreBackup` asks again under the lock before it reads the backup.
 */

/** The paths a restore works on: `dbPath` resolved and through a last symbolic link (`followLinks`), `from` resolved. */
export function restorePathsOf(input: Pick<RestoreInput, 'dbPath' | 'from'>): {
  dbPath: string;
  from: string;
} {
  return { dbPath: followLinks(path.resolve(input.dbPath)), from: path.resolve(input.from) };
}

/**
 * `restoreBackup`'s answer when the names and metadata of its paths already refuse the restore (see
 * `restoreInputProblem`); null when they do not, and the backup's content is still to be checked. Never throws.
 */
export function refuseRestoreEarly(input: Pick<RestoreInput, 'dbPath' | 'from'>): RestoreResult | null {
  const started = performance.now();
  const { dbPath, from } = restorePathsOf(input);
  try {
    const problem = restoreInputProblem(dbPath, from);
    return problem
      ? failedRestore({ dbPath, from, error: problem, kept: null, replaced: false, started })
      : null;
  } catch {
    return null; // a path stat itself cannot take: the restore's full check says what it is
  }
}

/**
 * Why the backup `from` cannot be put in place of `dbPath` (both as `restorePathsOf` gives them), as far as names and
 * metadata tell: it is the database itself (`INVALID_INPUT`); `dbPath` is named as a backup (`DB_IS_BACKUP`) or is
 * not a regular file; `from` is the database's `<db>.lock`, is not there, is too long a path, or is not a regular file (a directory, a
 * pipe, a device: `BACKUP_INVALID`), or is a backup's `.sha256` checksum (`BACKUP_INVALID`); the directory of `dbPath` is
 * not there (`DB_NOT_FOUND`). Null otherwise. Reads
 * metadata only, but the first 16 bytes of a regular file named as a checksum: a pipe is never opened.
 */
export function restoreInputProblem(dbPath: string, from: string): MigrationError | null {
  if (isSameFile(from, dbPath)) {
    return new MigrationError(
      ErrorCode.INVALID_INPUT,
      `The backup ${from} is the database ${dbPath} itself: there is nothing to restore, and nothing was changed.`,
    );
  }
  // A backup's name must keep what it was taken from; given for --db, it is usually --db and --from swapped.
  const backupInTheWay = restoreOverBackupProblem(dbPath);
  if (backupInTheWay) return backupInTheWay;
  // Never opened, let alone replaced: a pipe would block the open, and a device (`/dev/null`) would be read as an
  // empty database, then renamed over.
  const inTheWay = notRegularFileProblem(dbPath);
  if (inTheWay) {
    return new MigrationError(inTheWay.code, `${inTheWay.message.replace(/\.$/, '')}; nothing was changed.`);
  }
  return backupPathProblem(from, dbPath) ?? missingDirectoryProblem(dbPath);
}

/** The database's directory is not there: no file to put the backup in place of, and nowhere to write one. */
function missingDirectoryProblem(dbPath: string): MigrationError | null {
  if (fs.existsSync(path.dirname(dbPath))) return null;
  return new MigrationError(
    ErrorCode.DB_NOT_FOUND,
    `The directory ${path.dirname(dbPath)} does not exist, so there is no ${path.basename(dbPath)} to put a file in place of; nothing was changed.`,
  );
}

function backupPathProblem(from: string, dbPath: string): MigrationError | null {
  // Taken as a backup, the lock would be held by the restore itself, then removed with it on release.
  if (isLockOf(from, dbPath)) {
    return new MigrationError(
      ErrorCode.BACKUP_INVALID,
      `The backup cannot be restored: ${from} is the lock of ${dbPath} (the directory gao-migrate and its workers hold while they change the database), not a backup. Nothing was changed.`,
    );
  }
  let stat: fs.Stats;
  try {
    stat = fs.statSync(from);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENAMETOOLONG') {
      return new MigrationError(
        ErrorCode.BACKUP_INVALID,
        'The backup path is too long for this file system; nothing was changed.',
      );
    }
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return null; // the full check says what it is
    return new MigrationError(
      ErrorCode.BACKUP_INVALID,
      `No backup at ${from}: ${whyNotThere(from) ?? 'the file does not exist'}; nothing was changed.`,
    );
  }
  if (stat.isFile()) return checksumGivenAsBackup(from);
  return new MigrationError(
    ErrorCode.BACKUP_INVALID,
    `The backup cannot be restored: ${notRegularFileError(from, stat, 'backup').message} Nothing was changed.`,
  );
}

/**
 * A backup's `<backup>.sha256` given as the backup (it is one tab completion away from it): said so, with the backup
 * to give instead. Null for any other file, and for a SQLite database under such a name, which is checked as a backup.
 */
function checksumGivenAsBackup(from: string): MigrationError | null {
  if (!isBackupChecksumName(from)) return null;
  try {
    if (hasSqliteHeader(from)) return null;
  } catch {
    return null; // unreadable: the full check says so
  }
  const backup = from.slice(0, -'.sha256'.length);
  const instead = fs.existsSync(backup)
    ? `restore from ${backup} itself`
    : `and ${backup} is not there either (moved with its checksum left behind?)`;
  return new MigrationError(
    ErrorCode.BACKUP_INVALID,
    `The backup cannot be restored: ${from} is the SHA-256 checksum written beside the backup ${backup}, not a backup; ${instead}. Nothing was changed.`,
  );
}

/**
 * Whether `from` is the `<db>.lock` workers and the CLI take for the database (src/worker/file-lock.ts), by name or
 * as the same directory: beside the database's real file, or beside `dbPath` when there is no file yet.
 */
function isLockOf(from: string, dbPath: string): boolean {
  const locks = [`${dbPath}.lock`];
  try {
    locks.push(`${fs.realpathSync(dbPath)}.lock`);
  } catch {
    // no database yet: its lock is beside the path given
  }
  return locks.some((lock) => lock === from || isSameFile(from, lock));
}

/**
 * `restoreBackup`'s answer to a failure: says the database is unchanged unless it was replaced or the sentence
 * already says so, and where the file that was in place is kept, when it was.
 */
export function failedRestore(failed: {
  dbPath: string;
  from: string;
  error: unknown;
  kept: KeptFile | null;
  replaced: boolean;
  started: number;
}): RestoreResult {
  const { dbPath, from, kept } = failed;
  const failure = toMigrationError(
    failed.error,
    ErrorCode.IO_ERROR,
    `Restoring ${dbPath} from ${from} failed`,
  );
  const unchanged =
    failed.replaced || /nothing was changed|unchanged/i.test(failure.message)
      ? ''
      : ' The database is unchanged.';
  const where = kept ? `${unchanged} The file that was in place is kept at ${kept.path}.` : unchanged;
  return {
    ok: false,
    op: 'restore',
    db: dbPath,
    status: 'failed',
    restoredFrom: from,
    backupPath: kept?.path ?? null,
    replacedFileProblem: kept?.problem ?? null,
    sha256: null,
    backupChecksum: null,
    backupChecksumProblem: null,
    durationMs: elapsedSince(failed.started),
    error: { code: failure.code, message: `${failure.message}${where}`, retryable: failure.retryable },
  };
}

/** Milliseconds since `started` (a `performance.now()`), to the hundredth. */
export function elapsedSince(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
