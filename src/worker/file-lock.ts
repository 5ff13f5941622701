import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';

import { DEFAULT_FILE_LOCK_STALE_MS, DEFAULT_FILE_LOCK_TIMEOUT_MS } from './defaults.js';

export { DEFAULT_FILE_LOCK_STALE_MS, DEFAULT_FILE_LOCK_TIMEOUT_MS };

export interface FileLockOptions {
  /** How long to wait for a lock another process holds, in ms. Default: 30000. */
  timeoutMs?: number;
  /** Age after which a lock is considered abandoned, in ms (proper-lockfile refreshes it every stale/2). Default: 10000. */
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

/** Path of the lock beside a database: `<db>.lock` (a directory, which proper-lockfile creates atomically). */
export function lockPathOf(dbPath: string): string {
  return `${dbPath}.lock`;
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
        realpath: false,
        lockfilePath: lockPathOf(dbPath),
        onCompromised: options.onCompromised ?? (() => {}),
      });
      return { waitMs: Date.now() - started, release: onceQuietly(release) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      if (Date.now() - started >= timeoutMs) {
        throw new FileLockHeldError(
          `The file lock ${lockPathOf(dbPath)} is held by another worker (waited ${timeoutMs} ms).`,
        );
      }
      await sleep(pause);
      pause = Math.min(pause * 2, 500);
    }
  }
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
