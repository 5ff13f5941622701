import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  backupPathFor,
  checkpointCopy,
  clearTemporaryName,
  fsyncDirectory,
  matchOwnerAndMode,
} from './backup.js';
import { fsyncFile, inspectDatabaseFile, sha256OfFile } from './backup-check.js';
import { checksumMismatch, readChecksumBeside } from './backup-checksum.js';
import { ErrorCode, MigrationError, messageOf } from './errors.js';
import { DEFAULT_RESERVE_BYTES } from './migrator.js';
import { assertDatabaseFile, assertJournalsAreFiles, assertRoomForRestore } from './preconditions.js';
import { elapsedSince, failedRestore, restoreInputProblem, restorePathsOf } from './restore-input.js';
import { type KeptFile, keepCurrentFile, replacedFileProblemOf } from './restore-keep.js';

export interface RestoreInput {
  dbPath: string;
  /** The backup to put in place. */
  from: string;
  busyTimeoutMs?: number;
  /** Free space to keep beyond the two copies, in bytes. Default: 1 MiB, as for a migration. */
  reserveBytes?: number;
  /** Check the backup and the file in place, say what would happen, write nothing. */
  dryRun?: boolean;
  now?: () => Date;
}

export interface RestoreResult {
  ok: boolean;
  op: 'restore';
  db: string;
  status: 'restored' | 'planned' | 'failed';
  restoredFrom: string;
  /** Where the file that was in place before the restore was kept (a dry run: would be); null when there was none. */
  backupPath: string | null;
  /**
   * Why the file that was in place was not a sound database (`NOT_A_DATABASE: …`, `DB_CORRUPT: …`), when it was
   * not: it was then kept byte for byte, with its journal or WAL, instead of as a checked backup. Null otherwise.
   */
  replacedFileProblem: string | null;
  sha256: string | null;
  /**
   * What the `<backup>.sha256` beside the backup said: `matched` (the backup's SHA-256 is the one it records),
   * `absent` (none: a backup of an older version, or copied without it), `unusable` (there but not usable: empty or
   * cut short, as a crash may leave it, not a regular file, unreadable: not checked, see `backupChecksumProblem`).
   * Null when the restore failed before it was read, or on its mismatch.
   */
  backupChecksum: 'matched' | 'absent' | 'unusable' | null;
  /** Why the checksum beside the backup was not used, when `backupChecksum` is `unusable` (the CLI warns of it). */
  backupChecksumProblem: string | null;
  durationMs: number;
  error: { code: string; message: string; retryable: boolean } | null;
}

/**
 * Puts a backup in place of a database: checks the backup, keeps the current file as
 * `<stem>.pre_restore_backup_<ts>.db`, then copies the backup to a temporary name beside the database and renames
 * it over the database (atomic on one file system). Never throws.
 *
 * Stop every process that has the database open first: a process that keeps its connection would go on with the
 * replaced file. One that keeps a WAL database open is refused (`DB_LOCKED`): it would write into the `-wal` that
 * the restored file shares by name.
 */
export function restoreBackup(input: RestoreInput): RestoreResult {
  const started = performance.now();
  const { dbPath, from } = restorePathsOf(input);
  let kept: KeptFile | null = null;
  let replaced = false;
  try {
    // Asked again under the lock (the CLI asks before it): a path may have changed while the lock was awaited.
    const refused = restoreInputProblem(dbPath, from);
    if (refused) throw refused;
    // The restored file would meet them too: SQLite could open it neither to keep the current file nor after.
    assertJournalsAreFiles(dbPath);
    const checksum = checkBackupChecksum(from);
    assertBackupUsable(from);
    assertRoomForRestore(dbPath, from, input.reserveBytes ?? DEFAULT_RESERVE_BYTES);
    assertNoOrphanJournal(dbPath);
    if (input.dryRun) return { ...plannedRestore(dbPath, from, input, started), ...checksum };
    // Named like the backups' partial copies, so that `removeAbandonedPartials` also clears one a crash left.
    const temporary = `${dbPath}.restore.partial-${process.pid}`;
    clearTemporaryName(temporary, ErrorCode.IO_ERROR);
    const inPlace = fs.statSync(dbPath, { throwIfNoEntry: false });
    if (inPlace) {
      const at = (input.now ?? (() => new Date()))();
      kept = keepCurrentFile(
        dbPath,
        backupPathFor(dbPath, 'pre_restore_backup', at),
        at,
        busyTimeoutOf(input),
      );
    }
    try {
      fs.copyFileSync(from, temporary, fs.constants.COPYFILE_EXCL);
      foldWriteAheadLog(from, temporary);
      fsyncFile(temporary);
      // The database keeps its owner and permissions, whoever made the backup and whoever restores it (set once
      // the copy is flushed: a read-only database's could not be opened for the flush).
      if (inPlace) matchOwnerAndMode(temporary, inPlace, inPlace.mode & 0o777);
      fs.renameSync(temporary, dbPath);
      replaced = true;
      fsyncDirectory(path.dirname(dbPath));
    } finally {
      for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${temporary}${suffix}`, { force: true });
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
      ...checksum,
      durationMs: elapsedSince(started),
      error: null,
    };
  } catch (error) {
    return failedRestore({ dbPath, from, error, kept, replaced, started });
  }
}

/**
 * A backup with a `-wal` beside it (a copy of a WAL-mode database taken while it was open, `cp documents.db*`)
 * keeps committed transactions in that WAL: the check read them, so the restore must not leave them behind. The
 * WAL is copied beside the temporary copy and checkpointed into it; the backup and its WAL are only read.
 */
function foldWriteAheadLog(from: string, temporary: string): void {
  const wal = fs.statSync(`${from}-wal`, { throwIfNoEntry: false });
  if (!wal?.isFile() || wal.size === 0) return;
  fs.copyFileSync(`${from}-wal`, `${temporary}-wal`, fs.constants.COPYFILE_EXCL);
  try {
    checkpointCopy(temporary);
  } catch (error) {
    throw new MigrationError(
      ErrorCode.IO_ERROR,
      `The write-ahead log beside the backup (${from}-wal) could not be folded into its copy (${messageOf(error)}); nothing was changed.`,
      { cause: error },
    );
  }
}

/**
 * Where the database file is gone, a `-wal` or `-journal` left beside it (a writer that died, then the file alone
 * removed) belongs to no file, yet SQLite would replay it into whatever file next bears the name: the restored
 * backup would silently carry another database's changes, or pages of it. Kept with its database, a journal goes
 * with the kept copy (restore-keep.ts); alone, it is left to the user. Empty ones hold nothing.
 */
function assertNoOrphanJournal(dbPath: string): void {
  if (fs.existsSync(dbPath)) return;
  for (const [suffix, what] of [
    ['-wal', 'write-ahead log'],
    ['-journal', 'rollback journal'],
  ] as const) {
    const journal = `${dbPath}${suffix}`;
    if (suffix === '-journal' ? !holdsTransaction(journal) : !hasBytes(journal)) continue;
    throw new MigrationError(
      ErrorCode.ORPHAN_JOURNAL,
      `The ${what} ${journal} is left beside ${dbPath}, which is gone: SQLite would replay it into the restored file, so move it away (keep it if the database it came from matters), then restore again; nothing was changed.`,
    );
  }
}

function hasBytes(filePath: string): boolean {
  return (fs.statSync(filePath, { throwIfNoEntry: false })?.size ?? 0) > 0;
}

/**
 * Whether a rollback journal holds a transaction SQLite would roll back: not empty, its header not zeroed (a
 * journal zeroed by journal_mode PERSIST or locking_mode EXCLUSIVE is never replayed).
 */
function holdsTransaction(journal: string): boolean {
  return hasBytes(journal) && firstByteOf(journal) !== 0;
}

function firstByteOf(filePath: string): number | undefined {
  const fd = fs.openSync(filePath, 'r');
  try {
    const byte = Buffer.alloc(1);
    return fs.readSync(fd, byte, 0, 1, 0) === 1 ? byte[0] : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Compares the backup with the checksum written beside it when it was taken (`<backup>.sha256`): SQLite's checks
 * pass a backup with a few bytes changed inside a record, this does not. A mismatch is refused (`BACKUP_INVALID`);
 * no checksum (older versions wrote none) is no check; one that cannot be used (empty or cut short by a crash
 * before its data reached the disk, a directory, a link to nothing) is no check either, with a warning that says
 * what it is, so that a good backup never becomes unrestorable.
 */
function checkBackupChecksum(from: string): Pick<RestoreResult, 'backupChecksum' | 'backupChecksumProblem'> {
  const checksum = readChecksumBeside(from);
  if (checksum.status === 'absent') return { backupChecksum: 'absent', backupChecksumProblem: null };
  if (checksum.status === 'unusable') {
    return {
      backupChecksum: 'unusable',
      // The reason says what the file is, and what may have made it so: a crash leaves an empty file, not a directory.
      backupChecksumProblem: `The checksum ${checksum.path} beside the backup ${checksum.reason}, so the backup's bytes were not compared with it; going on with SQLite's checks alone.`,
    };
  }
  const actual = sha256OfFile(from);
  if (actual !== checksum.sha256) throw checksumMismatch(from, checksum.path, checksum.sha256, actual);
  return { backupChecksum: 'matched', backupChecksumProblem: null };
}

function assertBackupUsable(from: string): void {
  try {
    // Its sentences speak of the backup: one that went between the early check and this is no database missing.
    assertDatabaseFile(from, 'backup');
  } catch (error) {
    const reason = error instanceof MigrationError ? error.message : String(error);
    throw new MigrationError(
      ErrorCode.BACKUP_INVALID,
      `The backup cannot be restored: ${reason} Nothing was changed.`,
    );
  }
  const problem = withoutNewSidecars(from, () => inspectDatabaseFile(from));
  if (problem && holdsTransaction(`${from}-journal`)) {
    // SQLite cannot read it read-only ("attempt to write a readonly database"): not damage, half a transaction.
    throw new MigrationError(
      ErrorCode.BACKUP_INVALID,
      `The backup ${from} has an unfinished transaction's journal beside it (${from}-journal: a writer stopped mid-transaction, or is still writing), which SQLite rolls back the next time it opens the backup read-write: once nothing writes to it, open it so (gao-migrate verify --db ${from} does), then restore again; nothing was changed.`,
    );
  }
  if (problem) {
    throw new MigrationError(
      ErrorCode.BACKUP_INVALID,
      `The backup ${from} fails its check (${problem}); nothing was changed.`,
    );
  }
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

/** A dry run's answer: the checks passed; what would be kept, and how. Nothing is written, no lock is taken. */
function plannedRestore(dbPath: string, from: string, input: RestoreInput, started: number): RestoreResult {
  const exists = fs.existsSync(dbPath);
  return {
    ok: true,
    op: 'restore',
    db: dbPath,
    status: 'planned',
    restoredFrom: from,
    backupPath: exists
      ? backupPathFor(dbPath, 'pre_restore_backup', (input.now ?? (() => new Date()))())
      : null,
    replacedFileProblem: exists ? replacedFileProblemOf(dbPath, busyTimeoutOf(input)) : null,
    sha256: null,
    backupChecksum: null,
    backupChecksumProblem: null,
    durationMs: elapsedSince(started),
    error: null,
  };
}

function busyTimeoutOf(input: RestoreInput): number {
  return input.busyTimeoutMs ?? 5_000;
}
