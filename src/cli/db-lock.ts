import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './exit-codes.js';

/**
 * Takes the `<db>.lock` that workers take before they migrate a database, for a command that changes it (`up`,
 * `down`, `restore`), so that it never runs beside a queued job on the same database, nor beside another of these
 * commands: SQLite's own locks keep two writers apart, but not a `restore`, whose rename they do not cover. Answers
 * the release. Nothing is locked for a path that is not a file (the command itself then says what it is), unless
 * `evenIfMissing` (restore puts a file where there may be none). With `unlockedInReadOnlyDirectory`, a directory
 * where no lock can be made (nor a backup, nor a journal) is no reason to refuse: the engine still reads the
 * database, answers `already-applied` or `not-applied` as anywhere else, and refuses any change (`DB_READONLY`).
 */
export async function lockDatabaseFile(
  dbOption: string,
  options: {
    timeoutMs: number;
    doing: string;
    evenIfMissing?: boolean;
    unlockedInReadOnlyDirectory?: boolean;
  },
): Promise<() => Promise<void>> {
  const { acquireFileLock, directoryIsWritable, FileLockError, FileLockHeldError } = await import(
    '../worker/file-lock.js'
  );
  const dbPath = path.resolve(dbOption);
  let existing: fs.Stats | undefined;
  try {
    existing = fs.statSync(dbPath, { throwIfNoEntry: false });
  } catch {
    return async () => {}; // a path no file can have (too long, through a file): the command itself says so
  }
  if (!existing?.isFile() && !(options.evenIfMissing && !existing)) return async () => {};
  // The worker locks the real path of the database it was given; a database not there yet has none.
  const lockedPath = existing ? fs.realpathSync(dbPath) : dbPath;
  try {
    const lock = await acquireFileLock(lockedPath, { timeoutMs: options.timeoutMs });
    return lock.release;
  } catch (error) {
    if (error instanceof FileLockHeldError) {
      throw new UsageError(
        `Another gao-migrate process holds ${lockedPath}.lock (a worker migrating the database, or an up, down or restore; waited ${options.timeoutMs} ms); nothing was changed: ${options.doing} once it is done.`,
        error.code,
      );
    }
    if (error instanceof FileLockError) {
      if (
        options.unlockedInReadOnlyDirectory &&
        error.code === 'DB_READONLY' &&
        !directoryIsWritable(lockedPath)
      ) {
        return async () => {};
      }
      throw new UsageError(error.message, error.code);
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return async () => {}; // no such directory: the command itself says so
    if (typeof code !== 'string') throw error;
    throw new UsageError(
      `Cannot take the lock ${lockedPath}.lock (${code}); nothing was changed.`,
      ['EACCES', 'EPERM', 'EROFS'].includes(code) ? 'DB_READONLY' : 'IO_ERROR',
    );
  }
}
