import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';

import { DEFAULT_FILE_LOCK_STALE_MS, DEFAULT_FILE_LOCK_TIMEOUT_MS } from './defaults.js';

/*
 * proper-lockfile removes its locks on exit through signal-exit, which listens to SIGXFSZ among other signals and,
 * when it is the only listener, raises the signal again: a write past the file-size limit (RLIMIT_FSIZE, `ulimit -f`)
 * then kills the process in the middle of a transaction, where Node ignores SIGXFSZ so that the write fails with
 * EFBIG, which the engine reports and rolls back. A listener of our own keeps it ignored.
 */
if (process.platform !== 'win32') process.on('SIGXFSZ', () => {});

export { DEFAULT_FILE_LOCK_STALE_MS, DEFAULT_FILE_LOCK_TIMEOUT_MS };

export interface FileLockOptions {
  /** How long to wait for a lock another process holds, in ms. Default: 30000. */
  timeoutMs?: number;
  /**
   * Age after which another holder's lock is considered abandoned, in ms (at least 2000, proper-lockfile's
   * minimum). Default: 10000. It does not change how often a held lock is refreshed: see `REFRESH_INTERVAL_MS`.
   */
  staleMs?: number;
  /** Called when the lock was lost while held (its directory removed or not refreshed in time). */
  onCompromised?: (error: Error) => void;
}

export interface HeldFileLock {
  /** Milliseconds spent waiting for the lock. */
  waitMs: number;
  /** Releases the lock; safe to call twice, never throws. */
  release(): Promise<void>;
}

/** The file lock is held by another worker: retryable. */
export class FileLockHeldError extends Error {
  readonly code = 'FILE_LOCK_HELD';
  constructor(message: string) {
    super(message);
    this.name = 'FileLockHeldError';
  }
}

/**
 * The lock cannot be taken, and waiting will not change that: something other than an empty lock directory sits
 * at `<db>.lock` (`FILE_LOCK_BLOCKED`), its directory is not writable (`DB_READONLY`), or its name is longer than
 * the file system allows (`INVALID_INPUT`). Not retryable.
 */
export class FileLockError extends Error {
  constructor(
    readonly code: 'FILE_LOCK_BLOCKED' | 'DB_READONLY' | 'INVALID_INPUT',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FileLockError';
  }
}

/**
 * How often a held lock's mtime is refreshed, whatever this holder's own stale threshold. Takers judge staleness
 * by their own threshold (a `restore`, or a worker with another `--stall-timeout`); refreshing at stale/2, as
 * proper-lockfile does by default, would let a taker with a smaller threshold break a live lock. One second is
 * proper-lockfile's shortest interval and below half of its shortest threshold (2000 ms), so no taker can.
 */
export const REFRESH_INTERVAL_MS = 1_000;

/** Path of the lock beside a database: `<db>.lock` (a directory, which proper-lockfile creates atomically). */
export function lockPathOf(dbPath: string): string {
  return `${dbPath}.lock`;
}

/**
 * Whether the database's directory can be written, asked as the engine asks it (access, not a try). Where it
 * cannot, no lock can be made there, and none is needed: no backup, journal or restored file can be written
 * there either, so the engine only reads (it answers `already-applied` or `not-applied`, or refuses a change).
 */
export function directoryIsWritable(dbPath: string): boolean {
  try {
    fs.accessSync(path.dirname(dbPath), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Takes the exclusive lock `<db>.lock`, waiting up to `timeoutMs`. Works across processes and across hosts on
 * shared storage (mkdir is atomic; the lock's mtime is refreshed while held).
 */
export async function acquireFileLock(dbPath: string, options: FileLockOptions = {}): Promise<HeldFileLock> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_FILE_LOCK_TIMEOUT_MS;
  const stale = options.staleMs ?? DEFAULT_FILE_LOCK_STALE_MS;
  const started = Date.now();
  let pause = 25;
  for (;;) {
    try {
      const release = await lockfile.lock(dbPath, {
        stale,
        update: REFRESH_INTERVAL_MS,
        realpath: false,
        lockfilePath: lockPathOf(dbPath),
        onCompromised: options.onCompromised ?? (() => {}),
      });
      return { waitMs: Date.now() - started, release: onceQuietly(release) };
    } catch (error) {
      const problem = await lockProblemOf(dbPath, error);
      if (problem) throw problem;
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      if (Date.now() - started >= timeoutMs) {
        throw new FileLockHeldError(
          `The file lock ${lockPathOf(dbPath)} is held by another worker (waited ${timeoutMs} ms); nothing was changed.`,
        );
      }
      await sleep(pause);
      pause = Math.min(pause * 2, 500);
    }
  }
}

/**
 * Why taking the lock failed, when waiting cannot help; null otherwise. Looked at only after a failure: a file at
 * `<db>.lock` is "held" to proper-lockfile while fresh, and fails its stale-lock removal (ENOTDIR) once old.
 */
async function lockProblemOf(dbPath: string, error: unknown): Promise<FileLockError | null> {
  const lockPath = lockPathOf(dbPath);
  const found = await fs.promises.lstat(lockPath).catch(() => null);
  if (found && !found.isDirectory()) {
    return new FileLockError(
      'FILE_LOCK_BLOCKED',
      `${lockPath} is in the way of the file lock: it is a ${found.isSymbolicLink() ? 'symbolic link' : 'file'}, not the lock directory workers create, so no worker will remove it. Remove it if no other program uses it; nothing was changed.`,
      { cause: error },
    );
  }
  const code = (error as NodeJS.ErrnoException).code;
  // Only the removal of a stale lock fails so (rmdir of a directory with files in it; EEXIST on some systems).
  if (found?.isDirectory() && (code === 'ENOTEMPTY' || code === 'EEXIST')) {
    return new FileLockError(
      'FILE_LOCK_BLOCKED',
      `${lockPath} is an abandoned file lock with files in it, which a worker's lock never has, so no worker will remove it. Look inside and remove it if no other program uses it; nothing was changed.`,
      { cause: error },
    );
  }
  if (code === 'ENAMETOOLONG') {
    return new FileLockError(
      'INVALID_INPUT',
      `The file lock ${lockPath} cannot be created: its name is longer than the file system allows (ENAMETOOLONG); give the database a shorter name. Nothing was changed.`,
      { cause: error },
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new FileLockError(
      'DB_READONLY',
      `Cannot create the file lock ${lockPath} (${code}): the database's directory is not writable; nothing was changed.`,
      { cause: error },
    );
  }
  return null;
}

function onceQuietly(release: () => Promise<void>): () => Promise<void> {
  let released: Promise<void> | undefined;
  return () => {
    released ??= release().catch(() => {
      // Already released or compromised: nothing is held any more.
    });
    return released;
  };
}
