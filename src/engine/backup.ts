import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database, { type Database as DatabaseHandle } from 'better-sqlite3';
import {
  type BackupShape,
  backupCheckFailed,
  checkCopyHere,
  checkCopyInThread,
  expectedShape,
} from './backup-check.js';
import { checksumLine, checksumPathOf } from './backup-checksum.js';
import { type BackupKind, backupPathFor } from './backup-name.js';
import { ErrorCode, MigrationError, messageOf } from './errors.js';
import { partialCopiesBeside } from './partial-copies.js';
import { summarizeCheck } from './preconditions.js';
import type { BackupInfo } from './types.js';

export { type BackupKind, backupPathFor };

/** What `link()` answers on file systems without hard links. */
const LINKLESS_FILE_SYSTEM_CODES: ReadonlySet<string> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** A backup that is written and flushed under a temporary name, not yet checked nor given its final name. */
export interface PendingBackup {
  /** True when the check runs on another thread while the caller goes on. */
  readonly checkedInThread: boolean;
  /** Waits for the check (when on a thread), then links the backup to its final name. Throws when it fails. */
  finish(): BackupInfo;
  /** Removes the temporary file; for failures before `finish`. Safe to call at any time. */
  abandon(): void;
}

/**
 * Writes a checked backup of the database `db` is connected to. The caller must hold the write lock
 * (`BEGIN IMMEDIATE`), so the file cannot change while it is read.
 *
 * - With `copyFile` (by default, databases of `COPY_FILE_FROM_BYTES` or more), the file is copied page for page
 *   by a short-lived process (see `copyLockedDatabase`). A WAL database whose WAL still holds frames (a reader
 *   kept the checkpoint from finishing) has its WAL copied too and checkpointed into the copy (`copy-wal`), so
 *   memory stays flat whatever the database's size.
 * - Otherwise the backup is SQLite's own page image (`serialize`): the same bytes, read through SQLite's
 *   descriptor, held in memory.
 *
 * The copy goes to a temporary name, is flushed, checked (SHA-256, `quick_check`, page count, schema size) and
 * only then linked to its final name, which must not exist: no file ever looks like a complete backup unless it is.
 */
export function createBackup(
  db: DatabaseHandle,
  dbPath: string,
  kind: BackupKind,
  at: Date,
  options: { copyFile?: boolean } = {},
): BackupInfo {
  const copyFile = options.copyFile ?? fs.statSync(dbPath).size >= COPY_FILE_FROM_BYTES;
  return startBackup(db, dbPath, kind, at, { checkInThread: false, copyFile }).finish();
}

/**
 * From this size on, a backup is copied by `cp` rather than written from SQLite's page image. Measured: the
 * image costs about 2 ms per MiB with its hash, a copy 3 ms to start `cp` plus about 1.5 ms per MiB with the
 * hash read back; the image also holds the whole database in memory.
 */
export const COPY_FILE_FROM_BYTES = 4 * 1024 * 1024;

/**
 * Like `createBackup`, but returns once the copy is written: with `checkInThread`, the check (hash and
 * quick_check, the costly part on large databases) runs on a worker thread while the caller runs the migration
 * inside its transaction; `finish()` before commit waits for it. The caller commits nothing before `finish()`
 * has returned, so no change is ever committed without a checked backup.
 */
export function startBackup(
  db: DatabaseHandle,
  dbPath: string,
  kind: BackupKind,
  at: Date,
  options: { checkInThread: boolean; copyFile: boolean },
): PendingBackup {
  const finalPath = backupPathFor(dbPath, kind, at);
  // Its checksum's name too: a backup is never published beside a checksum that is not its own.
  for (const name of [finalPath, checksumPathOf(finalPath)]) if (fs.existsSync(name)) throw nameTaken(name);
  const tempPath = `${finalPath}.partial-${process.pid}`;
  try {
    clearTemporaryName(tempPath);
    // The checksum's temporary name is the longest the backup writes: too long is said now, in these words.
    clearTemporaryName(`${checksumPathOf(finalPath)}.partial-${process.pid}`);
    // A -wal beside the temporary name, left by a crashed run, would be read into the new copy: it goes too.
    removeSidecars(tempPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw error;
    throw new MigrationError(
      ErrorCode.BACKUP_FAILED,
      `The backup ${finalPath} cannot be written: its name, or a temporary one it or its checksum (.sha256) is written under, is longer than the file system allows (ENAMETOOLONG); give the database a shorter name. Nothing was changed.`,
      { cause: error },
    );
  }
  removeAbandonedPartials(dbPath);
  const abandon = () => {
    fs.rmSync(tempPath, { force: true });
    removeSidecars(tempPath);
  };
  let snapshot: Snapshot;
  let expected: BackupShape;
  try {
    const source = fs.statSync(dbPath);
    snapshot = writeSnapshot(db, dbPath, tempPath, options.copyFile, backupModeOf(source));
    matchOwnerAndMode(tempPath, source, backupModeOf(source));
    expected = expectedShape(db);
  } catch (error) {
    abandon();
    throw backupWriteFailed(error, finalPath);
  }
  const { method } = snapshot;
  // The thread flushes, hashes and examines the copy beside the migration; finish() waits for it before
  // anything commits. Otherwise finish() does it all, the written bytes giving the hash when they are at hand.
  const check = options.checkInThread ? checkCopyInThread(tempPath, expected) : null;
  let image = check ? undefined : snapshot.image;
  return {
    checkedInThread: check !== null,
    abandon: () => {
      check?.cancel();
      abandon();
    },
    finish: () => {
      try {
        const examined = check?.result() ?? checkCopyHere(tempPath, expected, image);
        image = undefined;
        removeSidecars(tempPath);
        const { problem } = examined;
        if (problem?.reason === 'quick_check') {
          // The copy is page-exact and was taken under the write lock: its damage is the database's own.
          throw new MigrationError(
            ErrorCode.DB_CORRUPT,
            `${dbPath} is corrupt: a page-exact copy of it fails SQLite's quick_check (${summarizeCheck(problem.detail)}); nothing was changed.`,
          );
        }
        if (problem) throw backupCheckFailed(problem);
        publish(tempPath, finalPath, examined.sha256 as string);
        return {
          path: finalPath,
          sha256: examined.sha256 as string,
          bytes: fs.statSync(finalPath).size,
          method,
        };
      } catch (error) {
        abandon();
        if (error instanceof MigrationError) throw error;
        throw backupWriteFailed(error, finalPath);
      }
    },
  };
}

/**
 * A file at the temporary name is what a crashed run of a process with the same pid left: never a backup or a
 * database (it never got their name), so it goes. Anything else there is refused rather than written into.
 */
export function clearTemporaryName(tempPath: string, code: ErrorCode = ErrorCode.BACKUP_FAILED): void {
  const existing = fs.lstatSync(tempPath, { throwIfNoEntry: false });
  if (!existing) return;
  if (!existing.isFile()) {
    throw new MigrationError(
      code,
      `The temporary name ${tempPath} is taken by something that is not a file; nothing was changed.`,
    );
  }
  fs.rmSync(tempPath);
}

/** A partial copy this old, of a process that is gone, was abandoned by a crash (a backup takes seconds). */
const ABANDONED_PARTIAL_AGE_MS = 60 * 60 * 1000;

/**
 * Removes the temporary copies that killed runs left beside the database: `<stem>.*.partial-<pid>` files whose
 * process no longer runs here and that were last written over an hour ago (the age also spares a live run on
 * another host sharing the directory). They never carried a backup's name; they only take space.
 */
function removeAbandonedPartials(dbPath: string): void {
  const now = Date.now();
  for (const { path: filePath, pid } of partialCopiesBeside(dbPath)) {
    if (pid === process.pid || processIsAlive(pid)) continue;
    const stat = fs.lstatSync(filePath, { throwIfNoEntry: false });
    if (stat?.isFile() && now - stat.mtimeMs > ABANDONED_PARTIAL_AGE_MS) fs.rmSync(filePath, { force: true });
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function backupWriteFailed(error: unknown, finalPath: string): MigrationError {
  if (error instanceof MigrationError) return error;
  const code =
    (error as NodeJS.ErrnoException).code === 'ENOSPC'
      ? ErrorCode.INSUFFICIENT_DISK_SPACE
      : ErrorCode.BACKUP_FAILED;
  return new MigrationError(code, `The backup ${finalPath} could not be written: ${messageOf(error)}.`, {
    cause: error,
  });
}

/**
 * Opening a WAL-mode copy, even read-only, makes SQLite create `-wal` and `-shm` files beside it, and a read-only
 * connection leaves them behind. The temporary copy is ours, so are they.
 */
function removeSidecars(filePath: string): void {
  fs.rmSync(`${filePath}-wal`, { force: true });
  fs.rmSync(`${filePath}-shm`, { force: true });
}

interface Snapshot {
  method: BackupInfo['method'];
  /** The bytes written, when they came from memory. */
  image?: Buffer;
}

function writeSnapshot(
  db: DatabaseHandle,
  dbPath: string,
  tempPath: string,
  copyFile: boolean,
  mode: number,
): Snapshot {
  if (!copyFile) {
    const image = db.serialize();
    // Created with the database's permissions (a copy by cp keeps them too): never readable by more users.
    fs.writeFileSync(tempPath, image, { flag: 'wx', mode });
    return { method: 'serialize', image };
  }
  copyLockedDatabase(dbPath, tempPath);
  const journalMode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
  const walPath = `${dbPath}-wal`;
  const walHasFrames =
    journalMode === 'wal' && (fs.statSync(walPath, { throwIfNoEntry: false })?.size ?? 0) > 0;
  if (!walHasFrames) return { method: 'copy' };
  copyLockedDatabase(walPath, `${tempPath}-wal`);
  checkpointCopy(tempPath);
  return { method: 'copy-wal' };
}

/**
 * Folds the copied WAL into the copied database file, so that the backup is one file holding what the source's
 * connection sees. Sound because the caller holds the source's write lock: nobody can append to its WAL or reset
 * it meanwhile. Another connection may still run a passive checkpoint into the database file while it is copied,
 * but it only writes pages whose newer content is in the WAL, and recovering the copied WAL writes each of them
 * again. The copy opened here is ours alone; the check that follows proves the result.
 */
export function checkpointCopy(copyPath: string): void {
  const copy = new Database(copyPath, { fileMustExist: true });
  try {
    const [outcome] = copy.pragma('wal_checkpoint(TRUNCATE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    if (outcome?.busy !== 0 || outcome.checkpointed !== outcome.log) {
      throw new Error(`the copied WAL could not be checkpointed into the copy (${JSON.stringify(outcome)})`);
    }
  } finally {
    copy.close();
  }
}

const POSIX_CP = '/bin/cp';

const COPY_SCRIPT =
  "const fs=require('node:fs');try{fs.copyFileSync(process.argv[1],process.argv[2],fs.constants.COPYFILE_EXCL)}catch(e){process.stderr.write(String(e.code||e.message));process.exit(1)}";

/**
 * Copies the database file while this process holds SQLite's write lock on it. Not with `fs.copyFileSync` here:
 * POSIX advisory locks belong to the process, and closing any descriptor of the file releases all of them
 * (SQLite's "How To Corrupt Your Database Files", 2.2), so another process could write while the migration
 * runs. A short-lived process does the copy instead. Windows locks belong to the handle: a copy is safe there.
 */
function copyLockedDatabase(dbPath: string, tempPath: string): void {
  /* v8 ignore next 4 -- Windows only: CI runs on Linux */
  if (process.platform === 'win32') {
    fs.copyFileSync(dbPath, tempPath, fs.constants.COPYFILE_EXCL);
    return;
  }
  // cp starts in about 2 ms where node takes 40; node stands in where there is no cp.
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const [command, args] = fs.existsSync(POSIX_CP)
    ? [POSIX_CP, [dbPath, tempPath]]
    : [process.execPath, ['-e', COPY_SCRIPT, dbPath, tempPath]];
  const copied = spawnSync(command, args, {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (copied.error) throw copied.error;
  if (copied.status !== 0) {
    const reason = copied.stderr.trim() || `the copy exited with ${copied.status ?? copied.signal}`;
    throw Object.assign(new Error(`cannot copy ${dbPath} (${reason})`), { code: reason });
  }
}

/**
 * Gives a copy the given permissions and, run as root, the owner of the file it stands for, as SQLite does for the
 * journal and WAL it creates: a private database's backup stays private, and a file root writes (sudo, `docker
 * exec`) stays the project owner's, who could otherwise neither read the backup nor write the restored database.
 */
export function matchOwnerAndMode(filePath: string, like: fs.Stats, mode: number): void {
  fs.chmodSync(filePath, mode);
  /* v8 ignore next -- POSIX only: Windows has no uids */
  if (process.getuid?.() === 0 && (like.uid !== 0 || like.gid !== 0))
    fs.chownSync(filePath, like.uid, like.gid);
}

/**
 * A backup's permissions: the database's for its group and others, so that it is readable by no one the database
 * is not readable by; its owner may always read and write it (it is flushed and checked through a descriptor open
 * for writing, and a read-only database is still backed up).
 */
export function backupModeOf(database: fs.Stats): number {
  return (database.mode & 0o777) | 0o600;
}

/**
 * Gives the checked temporary file its final name, with its checksum beside it (`<backup>.sha256`, see
 * backup-checksum.ts), never over an existing file, then removes the temporary names. The checksum is linked first:
 * a backup is never published beside another file's checksum, and once the backup's name is taken, its checksum is
 * there. One directory fsync makes both names durable. With no `sha256`, the file is published alone (a byte copy
 * whose bytes SQLite will change, see restore-keep.ts).
 */
export function publish(tempPath: string, finalPath: string, sha256: string | null): void {
  if (sha256 !== null) publishWithChecksum(tempPath, finalPath, sha256);
  else if (fs.existsSync(checksumPathOf(finalPath))) throw nameTaken(checksumPathOf(finalPath));
  else linkWithoutReplacing(tempPath, finalPath);
  fs.rmSync(tempPath, { force: true });
  fsyncDirectory(path.dirname(finalPath));
}

function publishWithChecksum(tempPath: string, finalPath: string, sha256: string): void {
  const checksumPath = checksumPathOf(finalPath);
  const checksumTemp = `${checksumPath}.partial-${process.pid}`;
  try {
    writeChecksum(checksumTemp, sha256, path.basename(finalPath), fs.statSync(tempPath));
    linkWithoutReplacing(checksumTemp, checksumPath);
    try {
      linkWithoutReplacing(tempPath, finalPath);
    } catch (error) {
      fs.rmSync(checksumPath, { force: true });
      throw error;
    }
  } finally {
    fs.rmSync(checksumTemp, { force: true });
  }
}

/**
 * Writes the checksum line under a temporary name, with the backup's owner and permissions. Its data is not
 * flushed (that would be one more fsync per backup, on the path of every migration): after a crash it may be empty,
 * and `restore` takes an empty or malformed checksum for none, with a warning, so a good backup never becomes
 * unrestorable. It cannot hold another hash: no other checksum was ever written under a name that carries the
 * backup's time to the millisecond.
 */
function writeChecksum(checksumTemp: string, sha256: string, fileName: string, backup: fs.Stats): void {
  clearTemporaryName(checksumTemp);
  const mode = backup.mode & 0o777;
  fs.writeFileSync(checksumTemp, checksumLine(sha256, fileName), { flag: 'wx', mode });
  matchOwnerAndMode(checksumTemp, backup, mode);
}

/** Links `tempPath` to `finalPath`, which must not exist; renames it where there are no hard links. */
function linkWithoutReplacing(tempPath: string, finalPath: string): void {
  try {
    fs.linkSync(tempPath, finalPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw nameTaken(finalPath);
    /* v8 ignore next 5 -- file systems without hard links (FAT, exFAT, some shares): not on the CI machine */
    if (!LINKLESS_FILE_SYSTEM_CODES.has(code ?? '')) throw error;
    // FAT, exFAT and some network shares have no hard links: rename, after a last look for the name.
    if (fs.existsSync(finalPath)) throw nameTaken(finalPath);
    fs.renameSync(tempPath, finalPath);
  }
}

function nameTaken(filePath: string): MigrationError {
  return new MigrationError(
    ErrorCode.BACKUP_EXISTS,
    `A file named ${filePath} already exists; backups are never overwritten, so nothing was changed.`,
  );
}

/** Makes a new directory entry durable. Windows cannot open directories; NTFS journals the entry itself. */
export function fsyncDirectory(directory: string): void {
  /* v8 ignore next -- Windows only */
  if (process.platform === 'win32') return;
  const fd = fs.openSync(directory, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
