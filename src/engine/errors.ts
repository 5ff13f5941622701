/**
 * Stable error codes. Scripts, the queue worker and the CLI rely on these strings: never rename one.
 */
export const ErrorCode = {
  /** The path does not exist. */
  DB_NOT_FOUND: 'DB_NOT_FOUND',
  /** The path is a directory, not a file. */
  DB_IS_DIRECTORY: 'DB_IS_DIRECTORY',
  /**
   * `up` or `down` (dry runs too) has a change to make on a database file with more than one hard link (`nlink >
   * 1`): a change would show under its other names as well, and a restore (a rename into place) would silently
   * break the link. With nothing to do, the answer is `already-applied` / `not-applied`, as anywhere.
   */
  DB_MULTIPLE_LINKS: 'DB_MULTIPLE_LINKS',
  /**
   * `up` or `down` (dry runs too) has a change to make on a file named as gao-migrate names its backups
   * (`<stem>.backup_<ts>.db`, `.rollback_backup_`, `.pre_restore_backup_`): a glob such as `.gao-dev/*.db` catches
   * them, and a backup changed in place no longer holds the database as it was. With nothing to do, the answer is
   * `already-applied` / `not-applied`, as anywhere.
   */
  DB_IS_BACKUP: 'DB_IS_BACKUP',
  /**
   * The file is not a SQLite database (wrong header, empty, truncated), or the path is not a regular file at all (a
   * pipe such as `/dev/stdin`, a device such as `/dev/null`, a socket), which is never opened.
   */
  NOT_A_DATABASE: 'NOT_A_DATABASE',
  /** Where SQLite keeps the database's journal, WAL or WAL index (`-journal`, `-wal`, `-shm`) is not a file. */
  JOURNAL_NOT_A_FILE: 'JOURNAL_NOT_A_FILE',
  /**
   * A writer stopped in the middle of a transaction and left a hot `-journal`, which only a read-write connection
   * rolls back: a read-only one (a dry run, a restore's look at the file it replaces) cannot read the database.
   */
  HOT_JOURNAL: 'HOT_JOURNAL',
  /**
   * A restore's database file is gone but a `-wal` or `-journal` of it is left: SQLite would replay it into the
   * restored file (it replays whatever WAL or hot journal it finds beside a database, whichever file that is).
   */
  ORPHAN_JOURNAL: 'ORPHAN_JOURNAL',
  /** The file is a SQLite database that fails quick_check. */
  DB_CORRUPT: 'DB_CORRUPT',
  /** The database or its directory cannot be written. */
  DB_READONLY: 'DB_READONLY',
  /** Another connection holds a lock that outlasted the busy timeout. Retryable. */
  DB_LOCKED: 'DB_LOCKED',
  /** The file at the path was replaced between the checks and the migration. Retryable. */
  DB_CHANGED: 'DB_CHANGED',
  /** A table the migration needs is missing. */
  MISSING_TABLE: 'MISSING_TABLE',
  /** The migration id is not in the registry. */
  UNKNOWN_MIGRATION: 'UNKNOWN_MIGRATION',
  /** The database records a migration this tool does not know and that depends on this one. */
  LATER_MIGRATION_APPLIED: 'LATER_MIGRATION_APPLIED',
  /** The migration the requested one builds on is not recorded. */
  PREVIOUS_MIGRATION_MISSING: 'PREVIOUS_MIGRATION_MISSING',
  /** Part of the migration's schema is present without its version row, or the schema differs from what it expects. */
  SCHEMA_DRIFT: 'SCHEMA_DRIFT',
  /** Views or triggers depend on what a down would remove. */
  DEPENDENT_OBJECTS: 'DEPENDENT_OBJECTS',
  /** Not enough free space beside the database for the backup. */
  INSUFFICIENT_DISK_SPACE: 'INSUFFICIENT_DISK_SPACE',
  /** A backup file with the chosen name already exists; it is never overwritten. */
  BACKUP_EXISTS: 'BACKUP_EXISTS',
  /** The backup could not be written or did not pass its check. */
  BACKUP_FAILED: 'BACKUP_FAILED',
  /** A restore source is missing, not a database, or fails its check. */
  BACKUP_INVALID: 'BACKUP_INVALID',
  /** A statement of the migration failed; the transaction was rolled back. */
  MIGRATION_FAILED: 'MIGRATION_FAILED',
  /** The post-migration verification inside the transaction failed; rolled back. */
  VERIFY_FAILED: 'VERIFY_FAILED',
  /** The rebuild would leave foreign-key violations; rolled back. */
  FOREIGN_KEY_VIOLATION: 'FOREIGN_KEY_VIOLATION',
  /** `verify` found the migration not applied. */
  NOT_APPLIED: 'NOT_APPLIED',
  /** `verify` found the schema different from what the migration defines. */
  VERIFY_DRIFT: 'VERIFY_DRIFT',
  /** A caller's input (options, arguments) is malformed. */
  INVALID_INPUT: 'INVALID_INPUT',
  /** Reading or writing a file failed for a reason the operating system gave (EIO, ENOSPC, ...). Retryable. */
  IO_ERROR: 'IO_ERROR',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes for which trying again later can succeed without anyone changing anything. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.DB_LOCKED,
  ErrorCode.DB_CHANGED,
  ErrorCode.IO_ERROR,
]);

/** An error the engine expects and explains: a stable `code` and a one-sentence message. */
export class MigrationError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
    this.code = code;
  }

  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code);
  }
}

export function isMigrationError(error: unknown): error is MigrationError {
  return error instanceof MigrationError;
}

/** SQLite's "database is locked/busy" family, as better-sqlite3 reports it. */
export function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Turns any thrown value into a `MigrationError`, keeping the code of one that already is. */
export function toMigrationError(error: unknown, fallback: ErrorCode, context: string): MigrationError {
  if (isMigrationError(error)) return error;
  if (isSqliteBusy(error)) {
    return new MigrationError(ErrorCode.DB_LOCKED, `${context}: the database is locked by another process.`, {
      cause: error,
    });
  }
  const sqliteCode = (error as { code?: unknown } | null)?.code;
  if (sqliteCode === 'SQLITE_READONLY' || sqliteCode === 'SQLITE_CANTOPEN') {
    return new MigrationError(ErrorCode.DB_READONLY, `${context}: ${messageOf(error)}.`, { cause: error });
  }
  if (sqliteCode === 'SQLITE_FULL' || sqliteCode === 'ENOSPC') {
    return new MigrationError(ErrorCode.INSUFFICIENT_DISK_SPACE, `${context}: the disk is full.`, {
      cause: error,
    });
  }
  if (sqliteCode === 'SQLITE_CORRUPT' || sqliteCode === 'SQLITE_NOTADB') {
    return new MigrationError(ErrorCode.DB_CORRUPT, `${context}: ${messageOf(error)}.`, { cause: error });
  }
  if (typeof sqliteCode === 'string' && sqliteCode.startsWith('SQLITE_IOERR')) {
    return new MigrationError(ErrorCode.IO_ERROR, `${context}: ${messageOf(error)}.`, { cause: error });
  }
  return new MigrationError(fallback, `${context}: ${messageOf(error)}.`, { cause: error });
}

/** An error's message as one line (SQLite quotes multi-line CHECK expressions), without its final full stop. */
export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' ').replace(/[.\s]+$/, '');
}
