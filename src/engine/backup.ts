import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import Database, { type Database as DatabaseHandle } from 'better-sqlite3';
import { ErrorCode, MigrationError, messageOf } from './errors.js';
import { summarizeCheck } from './preconditions.js';
import type { BackupInfo } from './types.js';

export type BackupKind = 'backup' | 'rollback_backup' | 'pre_restore_backup';

const requireHere = createRequire(import.meta.url);

/** What `link()` answers on file systems without hard links. */
const LINKLESS_FILE_SYSTEM_CODES: ReadonlySet<string> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * `documents.db` + `backup` + 2026-11-24T10:15:00.123Z -> `documents.backup_20261124T101500123Z.db`, beside the database.
 */
export function backupPathFor(dbPath: string, kind: BackupKind, at: Date): string {
  const parsed = path.parse(dbPath);
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  return path.join(parsed.dir, `${parsed.name}.${kind}_${stamp}${parsed.ext || '.db'}`);
}

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
 * - With `copyFile` (large databases), rollback-journal databases and WAL databases whose WAL is empty are
 *   copied page for page by a short-lived process (see `copyLockedDatabase`).
 * - Otherwise, and for WAL databases with frames not yet checkpointed, the backup is SQLite's own page image
 *   (`serialize`): the same bytes, read through SQLite's descriptor, held in memory.
 *
 * The copy goes to a temporary name, is flushed, checked (SHA-256, `quick_check`, page count, schema size) and
 * only then linked to its final name, which must not exist: no file ever looks like a complete backup unless it is.
 */
export function createBackup(db: DatabaseHandle, dbPath: string, kind: BackupKind, at: Date): BackupInfo {
  return startBackup(db, dbPath, kind, at, { checkInThread: false, copyFile: true }).finish();
}

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
  if (fs.existsSync(finalPath)) {
    throw new MigrationError(
      ErrorCode.BACKUP_EXISTS,
      `A file named ${finalPath} already exists; backups are never overwritten, so nothing was changed.`,
    );
  }
  const tempPath = `${finalPath}.partial-${process.pid}`;
  clearTemporaryName(tempPath);
  removeAbandonedPartials(dbPath);
  const abandon = () => {
    fs.rmSync(tempPath, { force: true });
    removeSidecars(tempPath);
  };
  let method: BackupInfo['method'];
  let expected: BackupShape;
  try {
    method = writeSnapshot(db, dbPath, tempPath, options.copyFile);
    // The thread flushes the copy itself, beside the migration; finish() waits for it before anything commits.
    if (!options.checkInThread) fsyncFile(tempPath);
    expected = expectedShape(db);
  } catch (error) {
    abandon();
    throw backupWriteFailed(error, finalPath);
  }
  const check = options.checkInThread ? examineInThread(tempPath, expected) : null;
  return {
    checkedInThread: check !== null,
    abandon: () => {
      check?.cancel();
      abandon();
    },
    finish: () => {
      try {
        const examined = check?.result() ?? examineCopy(tempPath, expected, MAIN_THREAD_DEPS);
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
        publish(tempPath, finalPath);
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
 * A file at the temporary name is what a crashed run of a process with the same pid left: never a backup (it
 * never got a backup's name), so it goes. Anything else there is refused rather than written into.
 */
function clearTemporaryName(tempPath: string): void {
  const existing = fs.lstatSync(tempPath, { throwIfNoEntry: false });
  if (!existing) return;
  if (!existing.isFile()) {
    throw new MigrationError(
      ErrorCode.BACKUP_FAILED,
      `The backup's temporary name ${tempPath} is taken by something that is not a file; nothing was changed.`,
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
  const { dir, name } = path.parse(dbPath);
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\..+\\.partial-(\\d+)$`);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const entry of entries) {
    const pid = Number(pattern.exec(entry)?.[1]);
    if (!pid || pid === process.pid || processIsAlive(pid)) continue;
    const filePath = path.join(dir, entry);
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

function writeSnapshot(
  db: DatabaseHandle,
  dbPath: string,
  tempPath: string,
  copyFile: boolean,
): BackupInfo['method'] {
  const journalMode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
  const walPath = `${dbPath}-wal`;
  const walHasFrames = journalMode === 'wal' && fs.existsSync(walPath) && fs.statSync(walPath).size > 0;
  if (copyFile && !walHasFrames) {
    copyLockedDatabase(dbPath, tempPath);
    return 'copy';
  }
  fs.writeFileSync(tempPath, db.serialize(), { flag: 'wx' });
  return 'serialize';
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

interface ExaminedCopy {
  sha256: string | null;
  problem: FileProblem | null;
}

interface ExamineDeps {
  Database: typeof Database;
  createHash: typeof createHash;
  fs: typeof fs;
}

const MAIN_THREAD_DEPS: ExamineDeps = { Database, createHash, fs };

function findProblem(filePath: string, expected?: BackupShape): FileProblem | null {
  const { problem } = examineCopy(filePath, expected, MAIN_THREAD_DEPS, false);
  return problem
    ? {
        ...problem,
        detail: problem.reason === 'quick_check' ? summarizeCheck(problem.detail) : problem.detail,
      }
    : null;
}

/**
 * Hashes a file and proves it a sound database: `quick_check` clean and, given `expected`, the same page count
 * and schema size as its source. Self-contained (no imports, no outer names but `hashFile`): a worker thread
 * runs it from its source text.
 */
function examineCopy(
  filePath: string,
  expected: BackupShape | undefined,
  deps: ExamineDeps,
  hash = true,
): ExaminedCopy {
  const sha256 = hash ? hashFile(filePath, deps) : null;
  let copy: DatabaseHandle | undefined;
  try {
    copy = new deps.Database(filePath, { readonly: true, fileMustExist: true });
    // The first row only, as SQLite reports it: stepping on into a damaged file makes it raise instead.
    const quick = String(copy.pragma('quick_check', { simple: true }));
    if (quick !== 'ok') return { sha256, problem: { reason: 'quick_check', detail: quick } };
    if (expected) {
      const pageCount = Number(copy.pragma('page_count', { simple: true }));
      const pageSize = Number(copy.pragma('page_size', { simple: true }));
      const schemaObjects = Number(copy.prepare('SELECT count(*) FROM sqlite_schema').pluck().get());
      if (pageSize !== expected.pageSize || pageCount !== expected.pageCount) {
        const detail = `${pageCount} pages of ${pageSize} bytes, expected ${expected.pageCount} of ${expected.pageSize}`;
        return { sha256, problem: { reason: 'shape', detail } };
      }
      if (schemaObjects !== expected.schemaObjects) {
        const detail = `${schemaObjects} schema objects, expected ${expected.schemaObjects}`;
        return { sha256, problem: { reason: 'shape', detail } };
      }
    }
    return { sha256, problem: null };
  } catch (error) {
    const detail = String((error as Error)?.message ?? error).replace(/[.\s]+$/, '');
    return { sha256, problem: { reason: 'open', detail } };
  } finally {
    copy?.close();
  }
}

/** SHA-256 of a file, read in 4 MiB chunks. Self-contained, like `examineCopy`. */
function hashFile(filePath: string, deps: Pick<ExamineDeps, 'createHash' | 'fs'>): string {
  const hash = deps.createHash('sha256');
  const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
  const fd = deps.fs.openSync(filePath, 'r');
  try {
    for (;;) {
      const read = deps.fs.readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    deps.fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Longest wait for a check thread before the check is done again on this thread. */
const THREAD_CHECK_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * Runs `examineCopy` on a worker thread. The engine is synchronous, so the result is awaited with
 * `Atomics.wait` and read with `receiveMessageOnPort`, not with events. A thread that never answers (it could
 * not start) makes `result()` fall back to examining on this thread.
 */
function examineInThread(filePath: string, expected: BackupShape) {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const source = `
const { workerData } = require('node:worker_threads');
${hashFile.toString()}
${examineCopy.toString()}
let result;
try {
  const deps = { Database: require(workerData.sqlite), createHash: require('node:crypto').createHash, fs: require('node:fs') };
  const fd = deps.fs.openSync(workerData.filePath, 'r+');
  try { deps.fs.fsyncSync(fd); } finally { deps.fs.closeSync(fd); }
  result = examineCopy(workerData.filePath, workerData.expected, deps);
} catch (error) {
  result = { sha256: null, problem: { reason: 'open', detail: String((error && error.message) || error) } };
}
workerData.port.postMessage(result);
Atomics.store(workerData.flag, 0, 1);
Atomics.notify(workerData.flag, 0);
`;
  const thread = new Worker(source, {
    eval: true,
    workerData: { filePath, expected, sqlite: requireHere.resolve('better-sqlite3'), flag, port: port2 },
    transferList: [port2],
  });
  thread.unref();
  thread.on('error', () => {
    // Reported by result(): no answer means the check is done again on the calling thread.
  });
  const close = () => {
    port1.close();
    void thread.terminate();
  };
  return {
    result(): ExaminedCopy | null {
      Atomics.wait(flag, 0, 0, THREAD_CHECK_TIMEOUT_MS);
      const answer = receiveMessageOnPort(port1)?.message as ExaminedCopy | undefined;
      close();
      return answer ?? null;
    },
    cancel: close,
  };
}

/** Links the checked temporary file to its final name (fails if that exists), then removes the temporary name. */
function publish(tempPath: string, finalPath: string): void {
  try {
    fs.linkSync(tempPath, finalPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new MigrationError(
        ErrorCode.BACKUP_EXISTS,
        `A file named ${finalPath} already exists; backups are never overwritten, so nothing was changed.`,
      );
    }
    /* v8 ignore next 10 -- file systems without hard links (FAT, exFAT, some shares): not on the CI machine */
    if (!LINKLESS_FILE_SYSTEM_CODES.has(code ?? '')) throw error;
    // FAT, exFAT and some network shares have no hard links: rename, after a last look for the name.
    if (fs.existsSync(finalPath)) {
      throw new MigrationError(
        ErrorCode.BACKUP_EXISTS,
        `A file named ${finalPath} already exists; backups are never overwritten, so nothing was changed.`,
      );
    }
    fs.renameSync(tempPath, finalPath);
  }
  fs.rmSync(tempPath, { force: true });
  fsyncDirectory(path.dirname(finalPath));
}

export function sha256OfFile(filePath: string): string {
  return hashFile(filePath, MAIN_THREAD_DEPS);
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
  /* v8 ignore next -- Windows only */
  if (process.platform === 'win32') return;
  const fd = fs.openSync(directory, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
