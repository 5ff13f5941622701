import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, MigrationError } from './errors.js';

/*
 * What a path is, when it is not a file a database can be: read from metadata only, so that the worker can ask
 * before it takes a lock, without loading SQLite.
 */

/**
 * Why a path that is there is not a file a database can be: a directory (`DB_IS_DIRECTORY`), a pipe, a device or a
 * socket (`NOT_A_DATABASE`); null for a regular file or nothing there. Reads metadata only (stat, through links):
 * nothing is opened, as opening a named pipe waits for a writer for ever.
 */
export function notRegularFileProblem(filePath: string): MigrationError | null {
  const stat = fs.statSync(filePath, { throwIfNoEntry: false });
  return stat && !stat.isFile() ? notRegularFileError(filePath, stat) : null;
}

/** `notRegularFileProblem`'s answer for a path whose stat is in hand and not a regular file. */
export function notRegularFileError(filePath: string, stat: fs.Stats): MigrationError {
  if (stat.isDirectory()) {
    return new MigrationError(
      ErrorCode.DB_IS_DIRECTORY,
      `${filePath} is a directory, not a SQLite database file${projectDatabaseHint(filePath)}.`,
    );
  }
  return new MigrationError(
    ErrorCode.NOT_A_DATABASE,
    `${filePath} is ${kindOf(stat)}, not a regular file, so it cannot be a SQLite database: give the path of the database file.`,
  );
}

function kindOf(stat: fs.Stats): string {
  if (stat.isFIFO()) return 'a pipe (FIFO)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'something other than a file';
}

/** Where gao-dev keeps a project's database, relative to the project's root. */
const PROJECT_DATABASE = path.join('.gao-dev', 'documents.db');

/**
 * ` (it looks like a project: its database is <dir>/.gao-dev/documents.db)` when a project's root, or its
 * `.gao-dev` directory, was given for its database; empty otherwise.
 */
export function projectDatabaseHint(directory: string): string {
  for (const inside of [PROJECT_DATABASE, path.basename(PROJECT_DATABASE)]) {
    const candidate = path.join(directory, inside);
    if (fs.statSync(candidate, { throwIfNoEntry: false })?.isFile()) {
      return ` (it looks like a project: its database is ${candidate})`;
    }
  }
  return '';
}
