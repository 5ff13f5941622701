import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, MigrationError } from './errors.js';

/*
 * What a path is, when it is not a file a database can be: read from metadata only (but `hasSqliteHeader`, asked of a
 * regular file), so that the worker can ask before it takes a lock, without loading SQLite.
 */

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** Whether a regular file starts with SQLite's header (read, so never ask it of a pipe). Throws what open throws. */
export function hasSqliteHeader(filePath: string): boolean {
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = fs.openSync(filePath, 'r');
  try {
    const read = fs.readSync(fd, header, 0, header.length, 0);
    return read === header.length && header.equals(SQLITE_HEADER);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Why a path names nothing, when it is a symbolic link to a file that is not there: where it leads. Undefined for
 * any other path (nothing there at all, or a link that can be read no more).
 */
export function whyNotThere(filePath: string): string | undefined {
  try {
    return `it is a symbolic link to ${fs.readlinkSync(filePath)}, where there is no file`;
  } catch {
    return undefined;
  }
}

/**
 * Why a path that is there is not a file a database can be: a directory (`DB_IS_DIRECTORY`), a pipe, a device or a
 * socket (`NOT_A_DATABASE`); null for a regular file or nothing there. Reads metadata only (stat, through links):
 * nothing is opened, as opening a named pipe waits for a writer for ever.
 */
export function notRegularFileProblem(filePath: string): MigrationError | null {
  const stat = fs.statSync(filePath, { throwIfNoEntry: false });
  return stat && !stat.isFile() ? notRegularFileError(filePath, stat) : null;
}

/**
 * `notRegularFileProblem`'s answer for a path whose stat is in hand and not a regular file; `role` is what the path
 * was given as (default: the database), which the sentence asks for instead.
 */
export function notRegularFileError(
  filePath: string,
  stat: fs.Stats,
  role: 'database' | 'backup' = 'database',
): MigrationError {
  if (stat.isDirectory()) {
    // A project's directory given for a backup is not a slip for its database: no hint pointing there.
    return new MigrationError(
      ErrorCode.DB_IS_DIRECTORY,
      role === 'database'
        ? `${filePath} is a directory, not a SQLite database file${projectDatabaseHint(filePath)}.`
        : `${filePath} is a directory, not a backup file: give the path of the backup file.`,
    );
  }
  return new MigrationError(
    ErrorCode.NOT_A_DATABASE,
    `${filePath} is ${kindOf(stat)}, not a regular file, so it cannot be a SQLite database: give the path of the ${role} file.`,
  );
}

/** What a path that is not a regular file is, in words (`a directory`, `a pipe (FIFO)`, ...), from its stat. */
export function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
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

/**
 * The file a symbolic link leads to, where SQLite keeps the database's journal and WAL (it resolves links in the
 * name it is given): a backup, a restore's copies and every look at a journal go beside that file. A backup taken
 * beside the link would miss the WAL's committed frames; renaming over the link would leave the real database as it
 * was. Any other path, and a link that leads nowhere, is returned as it is.
 */
export function followLinks(dbPath: string): string {
  try {
    if (!fs.lstatSync(dbPath, { throwIfNoEntry: false })?.isSymbolicLink()) return dbPath;
    const real = fs.realpathSync(dbPath);
    // `/dev/stdin` on a pipe or socket leads to `/proc/<pid>/fd/pipe:[…]`, a name that is no file: the checks then
    // say what the path given is, in its own name.
    return fs.lstatSync(real, { throwIfNoEntry: false }) ? real : dbPath;
  } catch {
    return dbPath; // a link to nothing, or a path the checks refuse with their own words
  }
}

/**
 * Both names lead to one file (the same path, a hard link or a symbolic link); false when either is missing or
 * cannot be looked at (a path through a file).
 */
export function isSameFile(a: string, b: string): boolean {
  try {
    const first = fs.statSync(a, { throwIfNoEntry: false });
    const second = fs.statSync(b, { throwIfNoEntry: false });
    return (
      first !== undefined && second !== undefined && first.dev === second.dev && first.ino === second.ino
    );
  } catch {
    return false;
  }
}
