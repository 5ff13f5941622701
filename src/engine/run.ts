import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Database } from 'better-sqlite3';
import { type BackupKind, COPY_FILE_FROM_BYTES, type PendingBackup, startBackup } from './backup.js';
import { backupNameProblem } from './backup-name.js';
import { assertRowsPassChecks, rowsBreakingCheck } from './check-constraints.js';
import {
  breaksObjectsError,
  compileProblems,
  rehearseOnSchema,
  triggersOrViewsReach,
} from './compiled-objects.js';
import { ErrorCode, isMigrationError, MigrationError, toMigrationError } from './errors.js';
import { followLinks } from './file-kind.js';
import {
  assertDatabaseFile,
  assertQuickCheck,
  assertSameFile,
  assertTablesExist,
  databaseBytesOf,
  type FileIdentity,
  multipleLinksProblem,
  openDatabase,
  readOnlyProblem,
  readsWithoutTrace,
} from './preconditions.js';
import { assertSpaceForChange, measureSizes, spaceNeeded } from './space-needed.js';
import type {
  BackupInfo,
  Direction,
  DiscardedData,
  Migration,
  Operation,
  ProgressListener,
  RunResult,
  RunStatus,
  Step,
  StepTiming,
  Verification,
} from './types.js';
import { countRows, type VerificationOutcome, verifyChange, verifyDatabase } from './verification.js';

/** Longest wait for readers before a WAL checkpoint gives up (the backup then uses SQLite's page image). */
const WAL_CHECKPOINT_WAIT_MS = 200;
/** SQLite's own default page cache (2 MB), for the change's statements. */
const MIGRATION_CACHE_SIZE = -2000;
/** Failures of the backup itself: nothing to keep. */
const BACKUP_ERROR_CODES: ReadonlySet<string> = new Set([
  ErrorCode.BACKUP_FAILED,
  ErrorCode.BACKUP_EXISTS,
  ErrorCode.DB_CORRUPT,
  ErrorCode.INSUFFICIENT_DISK_SPACE,
]);

export interface RunInput {
  dbPath: string;
  /** Migration id. Default: the latest known. */
  migration?: string;
  /** All checks and the plan; nothing written, no backup. Default: false. */
  dryRun?: boolean;
  /** `verify` only: run the full `integrity_check` instead of `quick_check`. Default: false. */
  fullIntegrityCheck?: boolean;
}

/** A migrator's options with their defaults filled in. */
export interface RunSettings {
  busyTimeoutMs: number;
  reserveBytes: number;
  largeDatabaseBytes: number;
  now: () => Date;
  onProgress?: ProgressListener;
}

/** One run of `up`, `down` or `verify` on one database: its state while it executes, and the result it turns into. */
export class Run {
  readonly #started = performance.now();
  readonly #steps: StepTiming[] = [];
  readonly #dbPath: string;
  #migrationId: string;
  #db: Database | undefined;
  #inTransaction = false;
  #foreignKeysWereOn: boolean | undefined;
  #backup: BackupInfo | null = null;
  #pendingBackup: PendingBackup | undefined;
  #plan: string[] = [];
  #discards: DiscardedData[] = [];
  #verification: Verification | null = null;
  #stepName: Step | undefined;
  #stepStarted = 0;
  /** This run began a write transaction: a `-journal` left after a failure is its own. */
  #tookWriteLock = false;
  /** A failed change whose undo is still in the database's hot `-journal` (see #undoLeftInJournal). */
  #journalLeft = false;

  constructor(
    readonly op: Operation,
    readonly input: RunInput,
    readonly options: RunSettings,
  ) {
    this.#dbPath = followLinks(path.resolve(String(input.dbPath ?? '')));
    this.#migrationId = String(input.migration ?? '');
  }

  execute(findMigration: () => Migration): RunResult {
    const result = this.#attempt(findMigration);
    // Measured once the connection is closed: closing (and restoring foreign_keys) is part of the run.
    result.durationMs = round(performance.now() - this.#started);
    return result;
  }

  #attempt(findMigration: () => Migration): RunResult {
    try {
      if (typeof this.input.dbPath !== 'string' || this.input.dbPath.length === 0) {
        throw new MigrationError(ErrorCode.INVALID_INPUT, 'A database path is required.');
      }
      const migration = findMigration();
      this.#migrationId = migration.id;
      const status = this.op === 'verify' ? this.#verify(migration) : this.#migrate(migration, this.op);
      return this.#result(status, null);
    } catch (error) {
      this.#rollback();
      this.#close();
      this.#undoLeftInJournal();
      this.#keepBackupAfterFailure(error);
      const failure = toMigrationError(
        error,
        ErrorCode.MIGRATION_FAILED,
        `Migration ${this.#migrationId} ${this.op} failed`,
      );
      return this.#result(
        this.op === 'verify' && failure.code === ErrorCode.NOT_APPLIED ? 'not-applied' : 'failed',
        failure,
      );
    } finally {
      this.#close();
    }
  }

  #migrate(migration: Migration, direction: Direction): RunStatus {
    const dryRun = this.input.dryRun === true;
    this.#step('preconditions');
    const identity = assertDatabaseFile(this.#dbPath);
    // A database that cannot be written, or must not be (a file with other hard links, a backup), is still read:
    // when there is nothing to do, the answer is the same as anywhere (`already-applied`, `not-applied`); only a
    // change, or its dry run, is refused, before anything is written.
    const backup = backupNameProblem(this.#dbPath);
    const linked = multipleLinksProblem(this.#dbPath);
    const readOnly = readOnlyProblem(this.#dbPath);
    const write = !dryRun && readOnly === null && linked === null && backup === null;
    // A run that will not write reads as a dry run does: read-write where that leaves no -wal or -shm behind (see
    // readsWithoutTrace), read-only otherwise.
    const db = this.#open(write ? false : !readsWithoutTrace(this.#dbPath));
    assertTablesExist(db, this.#dbPath, migration.requiredTables);
    // A change is checked through its backup: a page-exact copy that passes quick_check vouches for the source.
    if (dryRun) assertQuickCheck(db, this.#dbPath);

    this.#step('lock');
    const foreignKeysOff = direction === 'down';
    this.#begin(db, identity, { write, foreignKeysOff });

    const { state, issues } = migration.inspect(db);
    if (state === 'partial') {
      throw new MigrationError(
        ErrorCode.SCHEMA_DRIFT,
        `Migration ${migration.id} is partly applied (${differences(issues)}); fix the schema by hand or restore a backup.`,
      );
    }
    if (direction === 'up' && state === 'applied') return this.#finishWithoutChange('already-applied');
    if (direction === 'down' && state === 'not-applied') return this.#finishWithoutChange('not-applied');
    if (backup) throw backup;
    if (linked) throw linked;
    if (readOnly) throw readOnly;
    migration.assertCanRun(db, direction);
    const plan = direction === 'up' ? migration.planUp(db) : migration.planDown(db);
    this.#plan = plan.statements;
    this.#discards = plan.discards ?? [];
    // Measured under the lock, once a WAL database is checkpointed: what the backup copies is the file itself. A
    // dry run measures in its read transaction (the file and its WAL, as the backup would copy them if a reader kept
    // the WAL from being checkpointed), so that it is refused where the real run would be, before the rows' check,
    // as the real run is before its statements.
    const rebuilt = (plan.rebuiltTables ?? []).map((rebuild) => rebuild.table);
    const sizes = measureSizes(db, databaseBytesOf(this.#dbPath), rebuilt);
    assertSpaceForChange(this.#dbPath, spaceNeeded(sizes, this.options.reserveBytes), rebuilt, { dryRun });
    const exposed = triggersOrViewsReach(db, plan.statements);
    const broken = exposed ? rehearseOnSchema(db, plan.statements) : [];
    if (broken.length > 0) throw breaksObjectsError(direction, broken);
    if (dryRun) {
      assertRowsPassChecks(db, migration, direction, plan);
      return this.#finishWithoutChange('planned');
    }

    this.#step('backup');
    const kind: BackupKind = direction === 'up' ? 'backup' : 'rollback_backup';
    // On a large database the backup's check (hash, quick_check) runs on the second core while the statements
    // run here; it is joined before verification, so nothing is committed before the backup is checked.
    const large = identity.size >= this.options.largeDatabaseBytes;
    this.#pendingBackup = startBackup(db, this.#dbPath, kind, this.options.now(), {
      checkInThread: large,
      copyFile: large || identity.size >= COPY_FILE_FROM_BYTES,
    });
    const checkInThread = large;
    if (!checkInThread) this.#finishBackup();

    this.#step('migrate');
    // Measured at a million learnings: the two index builds of up take 1.2 s with SQLite's default 2 MB page
    // cache against 2.2 s with better-sqlite3's 16 MB. (A second sorter thread, PRAGMA threads, helped alone
    // but lost to the backup check it then competes with for the second core.)
    db.pragma(`cache_size = ${MIGRATION_CACHE_SIZE}`);
    const rowsBefore = countRows(db, plan.rowCountTables ?? []);
    const compiledBefore = exposed ? compileProblems(db) : null;
    plan.statements.forEach((sql, index) => {
      this.#emit({ type: 'statement', index, total: plan.statements.length, sql });
      try {
        db.exec(sql);
      } catch (error) {
        const failed = toMigrationError(
          error,
          ErrorCode.MIGRATION_FAILED,
          `Statement ${index + 1} of ${plan.statements.length} failed`,
        );
        const rows = rowsBreakingCheck(db, sql, error);
        if (!rows) throw failed;
        throw new MigrationError(failed.code, `${failed.message.replace(/\.$/, '')}: ${rows}.`, {
          cause: error,
        });
      }
    });

    this.#step('verify');
    if (!this.#backup) this.#finishBackup();
    this.#settle(
      verifyChange(db, migration, direction, plan, {
        rowsBefore,
        compiledBefore,
        backupPath: this.#backup?.path ?? null,
        busyTimeoutMs: this.options.busyTimeoutMs,
      }),
    );

    this.#step('commit');
    db.exec('COMMIT');
    this.#inTransaction = false;
    return direction === 'up' ? 'applied' : 'rolled-back';
  }

  /**
   * A failure after the copy was written: when its check was still running on a thread, finish it, so that a
   * failed change leaves its checked backup as it does on a small database; a backup that fails its own check
   * is removed.
   */
  #keepBackupAfterFailure(error: unknown): void {
    if (!this.#pendingBackup) return;
    // A disk that fills up during the statements leaves the backup whole: only a failure of its own writing is its.
    const backupFailed =
      isMigrationError(error) &&
      BACKUP_ERROR_CODES.has(error.code) &&
      (error.code !== ErrorCode.INSUFFICIENT_DISK_SPACE || this.#stepName === 'backup');
    if (backupFailed) {
      this.#pendingBackup.abandon();
      this.#pendingBackup = undefined;
      return;
    }
    try {
      this.#finishBackup();
    } catch {
      this.#pendingBackup = undefined;
    }
  }

  /**
   * A failed write (a full disk, an I/O error) can leave SQLite's pager unable to roll back in place: the database
   * file keeps part of the change, and the `-journal` beside it holds what undoes it, which SQLite applies at the
   * next read-write open (a hot journal). That open is done here, so that "unchanged" is true of the file itself
   * (a copy of the file alone would otherwise carry the half-written change). If it cannot be done, the error says
   * so instead.
   */
  #undoLeftInJournal(): void {
    if (!this.#tookWriteLock) return;
    let journal: fs.Stats | undefined;
    try {
      journal = fs.statSync(`${this.#dbPath}-journal`, { throwIfNoEntry: false });
    } catch {
      return;
    }
    if (!journal?.isFile() || journal.size === 0) return;
    try {
      openDatabase(this.#dbPath, { readonly: false, busyTimeoutMs: this.options.busyTimeoutMs }).close();
    } catch {
      this.#journalLeft = true;
    }
  }

  #finishBackup(): void {
    const pending = this.#pendingBackup;
    if (!pending) return;
    this.#backup = pending.finish();
    this.#pendingBackup = undefined;
    this.#emit({
      type: 'backup',
      path: this.#backup.path,
      bytes: this.#backup.bytes,
      method: this.#backup.method,
    });
  }

  #verify(migration: Migration): RunStatus {
    this.#step('preconditions');
    assertDatabaseFile(this.#dbPath);
    const db = this.#open(false);
    assertTablesExist(db, this.#dbPath, migration.requiredTables);
    this.#step('verify');
    this.#settle(verifyDatabase(db, migration, this.#dbPath, this.input.fullIntegrityCheck === true));
    return 'verified';
  }

  /** Keeps what a verification found for the result, and fails the run if it did not pass. */
  #settle({ verification, error }: VerificationOutcome): void {
    this.#verification = verification;
    if (error) throw error;
  }

  #open(readonly: boolean): Database {
    this.#db = openDatabase(this.#dbPath, { readonly, busyTimeoutMs: this.options.busyTimeoutMs });
    return this.#db;
  }

  #begin(db: Database, identity: FileIdentity, how: { write: boolean; foreignKeysOff: boolean }): void {
    if (how.foreignKeysOff) {
      // PRAGMA foreign_keys is a no-op inside a transaction: it must change before BEGIN and after COMMIT.
      this.#foreignKeysWereOn = Number(db.pragma('foreign_keys', { simple: true })) === 1;
      db.pragma('foreign_keys = OFF');
    }
    if (how.write && String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal') {
      // An empty WAL lets the backup be a plain page copy. A reader that blocks the checkpoint only makes the
      // backup fall back to SQLite's page image, so the attempt does not wait the whole busy timeout.
      db.pragma(`busy_timeout = ${Math.min(this.options.busyTimeoutMs, WAL_CHECKPOINT_WAIT_MS)}`);
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.pragma(`busy_timeout = ${this.options.busyTimeoutMs}`);
    }
    try {
      db.exec(how.write ? 'BEGIN IMMEDIATE' : 'BEGIN');
      this.#inTransaction = true;
      this.#tookWriteLock = how.write;
      if (!how.write) db.prepare('SELECT count(*) FROM sqlite_schema').get();
    } catch (error) {
      throw toMigrationError(error, ErrorCode.DB_LOCKED, `Cannot lock ${this.#dbPath}`);
    }
    assertSameFile(this.#dbPath, identity);
  }

  #finishWithoutChange(status: RunStatus): RunStatus {
    this.#rollback();
    return status;
  }

  #rollback(): void {
    if (!this.#db || !this.#inTransaction) return;
    try {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
    } catch {
      // SQLite has already rolled back (e.g. after SQLITE_FULL); nothing is left to undo.
    }
    this.#inTransaction = false;
  }

  #close(): void {
    if (!this.#db) return;
    try {
      if (this.#foreignKeysWereOn) this.#db.pragma('foreign_keys = ON');
    } finally {
      this.#db.close();
      this.#db = undefined;
    }
  }

  #step(step: Step): void {
    this.#closeStep();
    this.#stepName = step;
    this.#stepStarted = performance.now();
    this.#emit({ type: 'step', step, op: this.op, migration: this.#migrationId, db: this.#dbPath });
  }

  #closeStep(): void {
    if (this.#stepName)
      this.#steps.push({ step: this.#stepName, ms: round(performance.now() - this.#stepStarted) });
    this.#stepName = undefined;
  }

  #emit(event: Parameters<ProgressListener>[0]): void {
    this.options.onProgress?.(event);
  }

  #result(status: RunStatus, error: MigrationError | null): RunResult {
    this.#closeStep();
    const ok = error === null;
    return {
      ok,
      op: this.op,
      migration: this.#migrationId,
      db: this.#dbPath,
      status,
      dryRun: this.input.dryRun === true,
      backupPath: this.#backup?.path ?? null,
      backupSha256: this.#backup?.sha256 ?? null,
      durationMs: 0, // set by `execute`, once the connection is closed
      verification: this.#verification,
      // A dry run that fails says what would stop the real run, which would then run nothing of its plan.
      plan: this.input.dryRun === true && !ok ? [] : this.#plan,
      steps: this.#steps,
      // Only a committed change (or a dry run's plan) drops anything: a failed one left the data in place.
      discarded: status === 'rolled-back' || status === 'planned' ? this.#discards : [],
      error: error && {
        code: error.code,
        message: this.#explain(error),
        retryable: error.retryable,
      },
    };
  }

  /** The error's sentence, plus what is unchanged and where the backup is, for failures of a change. */
  #explain(error: MigrationError): string {
    const message = /[.!?]$/.test(error.message) ? error.message : `${error.message}.`;
    if (this.op === 'verify') return message;
    const unchanged = this.#journalLeft
      ? ` The change was not committed: SQLite undoes what it wrote from ${this.#dbPath}-journal when the database is next opened, so keep that file beside it.`
      : /nothing was changed|unchanged/i.test(message)
        ? ''
        : ' The database is unchanged.';
    if (!this.#backup) return `${message}${unchanged}`;
    return `${message}${unchanged} Backup: ${this.#backup.path} (restore with: gao-migrate restore --db ${quoteArg(this.#dbPath)} --from ${quoteArg(this.#backup.path)}).`;
  }
}

/**
 * A path as one shell word that pastes back unchanged: single quotes for POSIX shells (nothing inside them is
 * special: not `$`, a backtick or a backslash); double quotes on Windows, where cmd.exe knows no other.
 */
function quoteArg(value: string): string {
  if (process.platform === 'win32') {
    return /^[\w./:\\-]+$/.test(value) ? value : `"${value.replaceAll('"', '""')}"`;
  }
  return /^[\w./:@%+,=-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Shown in a refusal; `gao-migrate verify` lists every difference, one per line. */
const DIFFERENCES_SHOWN = 3;

/** What differs from the migration's definition, whole when short, else its count and the first few. */
function differences(issues: readonly { message: string }[]): string {
  const messages = issues.map((issue) => issue.message);
  if (messages.length <= DIFFERENCES_SHOWN) return messages.join(' ');
  return `${messages.length} differences from its definition, the first ${DIFFERENCES_SHOWN}: ${messages.slice(0, DIFFERENCES_SHOWN).join(' ')} gao-migrate verify lists them all`;
}
