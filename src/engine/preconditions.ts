import fs from 'node:fs';
import path from 'node:path';
import Database, { type Database as DatabaseHandle } from 'better-sqlite3';
import { ErrorCode, MigrationError, messageOf, toMigrationError } from './errors.js';
import { hasSqliteHeader, notRegularFileError, whyNotThere } from './file-kind.js';
import { schemaTypeOf, tableExists } from './schema.js';

/** Identity of the file at a path, to notice it being swapped for another. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
}

/**
 * The path exists, is a regular file and starts with SQLite's header. Reads 16 bytes, writes nothing. `role` is
 * what the path was given as (default: the database), which the sentences name.
 */
export function assertDatabaseFile(dbPath: string, role: 'database' | 'backup' = 'database'): FileIdentity {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dbPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new MigrationError(
        ErrorCode.DB_NOT_FOUND,
        `No ${role} at ${dbPath}: ${whyNotThere(dbPath) ?? 'the file does not exist'}.`,
      );
    }
    if (code === 'ENAMETOOLONG') {
      throw new MigrationError(ErrorCode.INVALID_INPUT, `The ${role} path is too long for this file system.`);
    }
    throw toMigrationError(error, ErrorCode.IO_ERROR, `Cannot read ${dbPath}`);
  }
  if (!stat.isFile()) throw notRegularFileError(dbPath, stat, role);
  if (!hasSqliteHeader(dbPath)) {
    throw new MigrationError(
      ErrorCode.NOT_A_DATABASE,
      `${dbPath} is not a SQLite database (its header is not SQLite's).`,
    );
  }
  assertJournalsAreFiles(dbPath);
  return { dev: stat.dev, ino: stat.ino, size: stat.size };
}

/**
 * Whether the database file has more than one name: a hard link elsewhere would be changed by `up` or `down` too,
 * under a name the user did not give, and a later restore (a rename into place) or a copy would break the link
 * without a word. Answers why it must not be changed, or null when it has one name. Reading it is harmless.
 */
export function multipleLinksProblem(dbPath: string): MigrationError | null {
  const links = fs.statSync(dbPath).nlink;
  if (links <= 1) return null;
  return new MigrationError(
    ErrorCode.DB_MULTIPLE_LINKS,
    `${dbPath} has ${links} hard links (the same file under other names, which a change would change too and a restore would split from it): give it one name, e.g. by copying it and removing the other names, then run again; nothing was changed.`,
  );
}

const JOURNALS = [
  ['-journal', 'rollback journal'],
  ['-wal', 'write-ahead log (WAL)'],
  ['-shm', 'WAL index'],
] as const;

/**
 * A directory (or a socket, a FIFO) where SQLite keeps a journal makes it fail with "unable to open database
 * file" or "disk I/O error", which name neither the cause nor the path, and the latter reads as retryable.
 */
export function assertJournalsAreFiles(dbPath: string): void {
  for (const [suffix, what] of JOURNALS) {
    const journal = `${dbPath}${suffix}`;
    const stat = fs.statSync(journal, { throwIfNoEntry: false });
    if (stat && !stat.isFile()) {
      throw new MigrationError(
        ErrorCode.JOURNAL_NOT_A_FILE,
        `${journal} is ${stat.isDirectory() ? 'a directory' : 'not a regular file'}, where SQLite keeps the database's ${what}: move it away, then run again.`,
      );
    }
  }
}

export interface OpenOptions {
  readonly: boolean;
  busyTimeoutMs: number;
}

/** Opens an existing database; never creates one. */
export function openDatabase(dbPath: string, options: OpenOptions): DatabaseHandle {
  let db: DatabaseHandle;
  try {
    db = new Database(dbPath, {
      readonly: options.readonly,
      fileMustExist: true,
      timeout: options.busyTimeoutMs,
    });
  } catch (error) {
    throw toMigrationError(error, ErrorCode.NOT_A_DATABASE, `Cannot open ${dbPath}`);
  }
  try {
    // Reading the schema is the first real access: a non-database or a locked file shows here.
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
  } catch (error) {
    db.close();
    throw classifyOpenError(error, dbPath);
  }
  return db;
}

function classifyOpenError(error: unknown, dbPath: string): MigrationError {
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB') {
    return new MigrationError(ErrorCode.NOT_A_DATABASE, `${dbPath} is not a SQLite database.`);
  }
  if (code === 'SQLITE_CORRUPT') {
    return new MigrationError(ErrorCode.DB_CORRUPT, `${dbPath} is corrupt: ${messageOf(error)}.`);
  }
  if (code === 'SQLITE_READONLY_ROLLBACK') {
    return new MigrationError(
      ErrorCode.HOT_JOURNAL,
      `${dbPath} has a hot journal (${dbPath}-journal): a writer stopped in the middle of a transaction, and only a read-write connection rolls it back (gao-migrate verify does, as does the change itself); until then it cannot be read read-only.`,
    );
  }
  if (
    code === 'SQLITE_READONLY_DIRECTORY' ||
    code === 'SQLITE_READONLY_CANTINIT' ||
    code === 'SQLITE_CANTOPEN'
  ) {
    // A WAL database is read through its WAL index: SQLite creates (or initialises) `-shm` beside it even to read.
    return new MigrationError(
      ErrorCode.DB_READONLY,
      `Cannot read ${dbPath} (${code}): SQLite must create or write a file beside it even to read it (the WAL index ${path.basename(dbPath)}-shm of a WAL database), and its directory or that file is read-only; nothing was changed.`,
    );
  }
  return toMigrationError(error, ErrorCode.NOT_A_DATABASE, `Cannot read ${dbPath}`);
}

/**
 * Whether a dry run can read the database on a read-write connection without leaving a trace: no `-wal` or
 * `-journal` beside it that the connection would checkpoint or roll back, and the file and its directory
 * writable. Closing such a connection, SQLite removes the `-wal` and `-shm` that reading a WAL database creates;
 * a read-only connection cannot, and leaves them behind.
 */
export function readsWithoutTrace(dbPath: string): boolean {
  if (fs.existsSync(`${dbPath}-wal`) || fs.existsSync(`${dbPath}-journal`)) return false;
  try {
    fs.accessSync(dbPath, fs.constants.W_OK);
    fs.accessSync(path.dirname(dbPath), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `PRAGMA quick_check` must answer `ok`. CHECK constraints are left out on every connection, as a read-only
 * one leaves them out anyway: the check is the same whichever way the database was opened.
 */
export function assertQuickCheck(db: DatabaseHandle, dbPath: string): void {
  let result: unknown;
  const ignoring = Number(db.pragma('ignore_check_constraints', { simple: true })) === 1;
  try {
    if (!ignoring) db.pragma('ignore_check_constraints = ON');
    result = db.pragma('quick_check', { simple: true });
  } catch (error) {
    throw classifyOpenError(error, dbPath);
  } finally {
    if (!ignoring) db.pragma('ignore_check_constraints = OFF');
  }
  if (result !== 'ok') {
    throw new MigrationError(
      ErrorCode.DB_CORRUPT,
      `${dbPath} fails SQLite's quick_check (${summarizeCheck(result)}).`,
    );
  }
}

/**
 * The first problem a quick_check or integrity_check reported, and how many more: its full report can run to
 * hundreds of lines, and an error message is one sentence.
 */
export function summarizeCheck(result: unknown): string {
  const problems = String(result)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !/^\*\*\* in database \w+ \*\*\*$/.test(line));
  const [first = String(result)] = problems;
  return problems.length > 1 ? `${first}, and ${problems.length - 1} more problem(s)` : first;
}

export function assertTablesExist(db: DatabaseHandle, dbPath: string, tables: readonly string[]): void {
  const missing = tables.filter((table) => !tableExists(db, table));
  if (missing.length > 0) {
    // A view or an index under a table's name would otherwise read as if nothing bore the name at all.
    const impostors = missing.flatMap((name) => {
      const type = schemaTypeOf(db, name);
      return type ? [`${name} is a ${type}`] : [];
    });
    throw new MigrationError(
      ErrorCode.MISSING_TABLE,
      `${dbPath} has no ${missing.join(', ')} table${missing.length > 1 ? 's' : ''}${impostors.length > 0 ? ` (${impostors.join(', ')})` : ''}: it is not a gao-dev project database at schema 005 or later.`,
    );
  }
}

/**
 * A restore writes, beside the database (whose directory `restoreInputProblem` found there), the kept copy of the
 * file in place (as large as it and its WAL) and the copy of the backup (as large as the backup and its WAL), plus
 * `reserveBytes`.
 */
export function assertRoomForRestore(dbPath: string, from: string, reserveBytes: number): void {
  const needed = databaseBytesOf(dbPath) + databaseBytesOf(from) + reserveBytes;
  assertFreeSpace(dbPath, needed, 'the copy of the file in place and the restored file');
}

/** The database file and its WAL: what a backup or a kept copy of it takes. */
export function databaseBytesOf(dbPath: string): number {
  return sizeOrZero(dbPath) + sizeOrZero(`${dbPath}-wal`);
}

/**
 * Refuses (`INSUFFICIENT_DISK_SPACE`) unless `needed` bytes are free beside the database, naming what for. The
 * sentence ends with `outcome` (default: `nothing was changed`).
 */
export function assertFreeSpace(
  dbPath: string,
  needed: number,
  purpose: string,
  outcome = 'nothing was changed',
): void {
  let available: number;
  try {
    const stats = fs.statfsSync(path.dirname(dbPath));
    available = stats.bavail * stats.bsize;
  } catch (error) {
    throw toMigrationError(error, ErrorCode.IO_ERROR, `Cannot read the free space beside ${dbPath}`);
  }
  if (available < needed) {
    throw new MigrationError(
      ErrorCode.INSUFFICIENT_DISK_SPACE,
      `Not enough free space beside ${dbPath}: ${formatBytes(available)} free, ${formatBytes(needed)} needed for ${purpose}; ${outcome}.`,
    );
  }
}

/**
 * A change writes the database and, beside it, a backup and SQLite's journal: both must be writable, or the run
 * is refused before the backup (a read-only bind mount, `chattr +i`, permissions). Access is asked, not tried.
 * Answers why not, or null when both are writable.
 */
export function readOnlyProblem(dbPath: string): MigrationError | null {
  for (const target of [dbPath, path.dirname(dbPath)]) {
    try {
      fs.accessSync(target, fs.constants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      return new MigrationError(
        ErrorCode.DB_READONLY,
        `${target === dbPath ? dbPath : `The directory of ${dbPath}`} is read-only (${code}): the migration and its backup cannot be written; nothing was changed.`,
      );
    }
  }
  return null;
}

/** The file at the path is still the one the checks ran on (not replaced or renamed over). */
export function assertSameFile(dbPath: string, before: FileIdentity): void {
  let now: fs.Stats | undefined;
  try {
    now = fs.statSync(dbPath);
  } catch {
    now = undefined;
  }
  if (!now || now.dev !== before.dev || now.ino !== before.ino) {
    throw new MigrationError(
      ErrorCode.DB_CHANGED,
      `${dbPath} was replaced by another file while the migration was starting; nothing was changed.`,
    );
  }
}

function sizeOrZero(filePath: string): number {
  try {
    return fs.statSync(filePath).size;
  } catch {
    return 0;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
