import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Database } from 'better-sqlite3';
import { migrations as defaultMigrations } from '../migrations/index.js';
import { type BackupKind, COPY_FILE_FROM_BYTES, type PendingBackup, startBackup } from './backup.js';
import { rowsBreakingCheck, rowsBreakingChecksOf } from './check-constraints.js';
import { ErrorCode, isMigrationError, MigrationError, toMigrationError } from './errors.js';
import {
  assertDatabaseFile,
  assertDiskSpace,
  assertQuickCheck,
  assertSameFile,
  assertTablesExist,
  assertWritable,
  type FileIdentity,
  openDatabase,
  readsWithoutTrace,
} from './preconditions.js';
import { foreignKeyViolations, quoteIdentifier } from './schema.js';
import type {
  BackupInfo,
  Direction,
  DiscardedData,
  Migration,
  MigrationPlan,
  Operation,
  ProgressListener,
  RunResult,
  RunStatus,
  Step,
  StepTiming,
  Verification,
} from './types.js';

/** Default time a run waits for another connection's lock before failing with `DB_LOCKED`. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** Default free space kept beyond the backup and the migration's growth. */
export const DEFAULT_RESERVE_BYTES = 1024 * 1024;
/** Default size from which a backup's check runs on a worker thread beside the migration. */
export const DEFAULT_LARGE_DATABASE_BYTES = 64 * 1024 * 1024;
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

export interface MigratorOptions {
  /** Migrations to choose from. Default: every migration this tool ships. */
  migrations?: readonly Migration[];
  /** How long to wait for another connection's lock, in ms. Default: 5000. */
  busyTimeoutMs?: number;
  /** Free space to keep beyond the backup, in bytes. Default: 1 MiB. */
  reserveBytes?: number;
  /** Called at each step and statement. Throwing from it aborts the run and rolls it back. */
  onProgress?: ProgressListener;
  /** Clock for backup names. Default: `() => new Date()`. */
  now?: () => Date;
  /**
   * From this size (bytes) a database counts as large: its backup is copied by a short-lived `cp` process and
   * checked on a worker thread while the migration runs (joined before commit). Smaller ones are backed up from
   * SQLite's own page image and checked inline, which costs less than starting a process or a thread.
   * Default: 64 MiB.
   */
  largeDatabaseBytes?: number;
}

export interface RunInput {
  dbPath: string;
  /** Migration id. Default: the latest known. */
  migration?: string;
  /** All checks and the plan; nothing written, no backup. Default: false. */
  dryRun?: boolean;
  /** `verify` only: run the full `integrity_check` instead of `quick_check`. Default: false. */
  fullIntegrityCheck?: boolean;
}

const KNOWN_OPTIONS = new Set([
  'migrations',
  'busyTimeoutMs',
  'reserveBytes',
  'onProgress',
  'now',
  'largeDatabaseBytes',
]);

/**
 * Runs migrations on one SQLite database file. Synchronous, and never throws: every outcome is a `RunResult`.
 * Running many in a row, let the event loop turn between runs (`await setImmediate()`): a backup's flush to disk
 * overlaps its check on libuv's thread pool and gives its descriptor back in a callback. Without that, after
 * `MAX_FLUSHES_IN_FLIGHT` runs the flush is done in line: safe, a little slower.
 *
 * @example
 * const result = new Migrator().up({ dbPath: '.gao-dev/documents.db' });
 * if (!result.ok) console.error(result.error.code, result.error.message);
 */
export class Migrator {
  readonly #options: Readonly<
    Required<Omit<MigratorOptions, 'onProgress'>> & Pick<MigratorOptions, 'onProgress'>
  >;

  constructor(options: MigratorOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(key)) throw new TypeError(`Unknown Migrator option "${key}"`);
    }
    const resolved = {
      migrations: defaultMigrations,
      busyTimeoutMs: DEFAULT_BUSY_TIMEOUT_MS,
      reserveBytes: DEFAULT_RESERVE_BYTES,
      largeDatabaseBytes: DEFAULT_LARGE_DATABASE_BYTES,
      now: () => new Date(),
      ...options,
    };
    if (!Number.isInteger(resolved.busyTimeoutMs) || resolved.busyTimeoutMs < 0) {
      throw new TypeError('busyTimeoutMs must be a non-negative integer');
    }
    if (!Number.isFinite(resolved.reserveBytes) || resolved.reserveBytes < 0) {
      throw new TypeError('reserveBytes must be a non-negative number');
    }
    this.#options = Object.freeze(resolved);
  }

  /** Ids of the migrations this migrator knows, oldest first. */
  get migrationIds(): string[] {
    return this.#options.migrations.map((migration) => migration.id);
  }

  up(input: RunInput): RunResult {
    return this.run('up', input);
  }

  down(input: RunInput): RunResult {
    return this.run('down', input);
  }

  verify(input: RunInput): RunResult {
    return this.run('verify', input);
  }

  run(op: Operation, input: RunInput): RunResult {
    const run = new Run(op, input, this.#options);
    return run.execute(() => this.#findMigration(input.migration));
  }

  #findMigration(id: string | undefined): Migration {
    const known = this.#options.migrations;
    const wanted = id ?? known[known.length - 1]?.id;
    const migration = known.find((candidate) => candidate.id === wanted);
    if (!migration) {
      throw new MigrationError(
        ErrorCode.UNKNOWN_MIGRATION,
        `Unknown migration "${String(wanted).slice(0, 40)}"; known: ${known.map((m) => m.id).join(', ')}.`,
      );
    }
    return migration;
  }
}

/** One run: its state while it executes, and the result it turns into. */
class Run {
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

  constructor(
    readonly op: Operation,
    readonly input: RunInput,
    readonly options: MigratorOptions & {
      busyTimeoutMs: number;
      reserveBytes: number;
      largeDatabaseBytes: number;
      now: () => Date;
    },
  ) {
    this.#dbPath = path.resolve(String(input.dbPath ?? ''));
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
    if (!dryRun) assertWritable(this.#dbPath);
    // A dry run writes nothing either way; read-write, it also leaves no -wal or -shm behind (see readsWithoutTrace).
    const db = this.#open(dryRun && !readsWithoutTrace(this.#dbPath));
    assertTablesExist(db, this.#dbPath, migration.requiredTables);
    // A change is checked through its backup: a page-exact copy that passes quick_check vouches for the source.
    if (dryRun) assertQuickCheck(db, this.#dbPath);
    else assertDiskSpace(this.#dbPath, this.options.reserveBytes);

    this.#step('lock');
    const foreignKeysOff = direction === 'down';
    this.#begin(db, identity, { write: !dryRun, foreignKeysOff });

    const { state, issues } = migration.inspect(db);
    if (state === 'partial') {
      throw new MigrationError(
        ErrorCode.SCHEMA_DRIFT,
        `Migration ${migration.id} is partly applied (${issues.map((issue) => issue.message).join(' ')}); fix the schema by hand or restore a backup.`,
      );
    }
    if (direction === 'up' && state === 'applied') return this.#finishWithoutChange('already-applied');
    if (direction === 'down' && state === 'not-applied') return this.#finishWithoutChange('not-applied');
    migration.assertCanRun(db, direction);
    const plan = direction === 'up' ? migration.planUp(db) : migration.planDown(db);
    this.#plan = plan.statements;
    this.#discards = plan.discards ?? [];
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
    const rowCountTables = plan.rowCountTables ?? [];
    const rowsBefore = rowCountTables.map((table) => rowCount(db, table));
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
    this.#verifyInTransaction(db, migration, direction, plan);
    rowCountTables.forEach((table, index) => {
      const after = rowCount(db, table);
      if (after !== rowsBefore[index]) {
        throw new MigrationError(
          ErrorCode.VERIFY_FAILED,
          `Verification inside the transaction failed: ${table} has ${after} rows, ${rowsBefore[index]} before`,
        );
      }
    });

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
    const backupFailed = isMigrationError(error) && BACKUP_ERROR_CODES.has(error.code);
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

  #verifyInTransaction(db: Database, migration: Migration, direction: Direction, plan: MigrationPlan): void {
    const issues =
      direction === 'up'
        ? [...migration.inspect(db).issues, ...(migration.probeConstraints?.(db) ?? [])]
        : migration.inspectReverted(db);
    const fkTables = plan.foreignKeyCheckTables;
    const newViolations = this.#newForeignKeyViolations(db, fkTables);
    const integrity = quickCheckOf(db, plan.quickCheckTables ?? fkTables);
    this.#verification = {
      ok: issues.length === 0 && newViolations.length === 0 && integrity === 'ok',
      state: direction === 'up' ? 'applied' : 'not-applied',
      issues,
      integrity,
      foreignKeyViolations: newViolations.length,
    };
    if (newViolations.length > 0) {
      throw new MigrationError(
        ErrorCode.FOREIGN_KEY_VIOLATION,
        `The ${direction} would leave ${newViolations.length} foreign-key violation(s) (first: ${newViolations[0]})`,
      );
    }
    if (!this.#verification.ok) {
      const first = issues[0]?.message ?? `quick_check reported ${integrity}`;
      throw new MigrationError(
        ErrorCode.VERIFY_FAILED,
        `Verification inside the transaction failed: ${first}`,
      );
    }
  }

  /**
   * Violations after the change that were not there before. The checked backup is the database before the
   * change, so it answers for "before" only when there is something to compare: the common case costs one check.
   */
  #newForeignKeyViolations(db: Database, tables: readonly string[]): string[] {
    const after = foreignKeyViolations(db, tables);
    if (after.length === 0 || !this.#backup) return after;
    const before = openDatabase(this.#backup.path, {
      readonly: true,
      busyTimeoutMs: this.options.busyTimeoutMs,
    });
    try {
      const existing = new Set(foreignKeyViolations(before, tables));
      return after.filter((violation) => !existing.has(violation));
    } finally {
      before.close();
    }
  }

  #verify(migration: Migration): RunStatus {
    this.#step('preconditions');
    assertDatabaseFile(this.#dbPath);
    const db = this.#open(false);
    assertTablesExist(db, this.#dbPath, migration.requiredTables);
    this.#step('verify');
    const integrity = String(
      db.pragma(this.input.fullIntegrityCheck ? 'integrity_check' : 'quick_check', { simple: true }),
    );
    const { state, issues } = migration.inspect(db);
    const violations = foreignKeyViolations(db, migration.touchedTables ?? migration.requiredTables).length;
    if (state === 'applied' && !db.readonly) issues.push(...(migration.probeConstraints?.(db) ?? []));
    if (state === 'partial' && issues.length === 0) {
      issues.push({
        kind: 'partial',
        object: migration.id,
        message: `Migration ${migration.id} is partly applied.`,
      });
    }
    const ok = state === 'applied' && issues.length === 0 && integrity === 'ok' && violations === 0;
    this.#verification = { ok, state, issues, integrity, foreignKeyViolations: violations };
    if (ok) return 'verified';
    if (state === 'not-applied') {
      throw new MigrationError(
        ErrorCode.NOT_APPLIED,
        `Migration ${migration.id} is not applied to ${this.#dbPath}.`,
      );
    }
    const first = issues[0]?.message;
    if (!first && integrity !== 'ok') {
      throw new MigrationError(
        ErrorCode.VERIFY_DRIFT,
        `Migration ${migration.id} is applied as defined, but the database fails its integrity check: ${integrity.replace(/\s*\n\s*/g, '; ')}.`,
      );
    }
    throw new MigrationError(
      ErrorCode.VERIFY_DRIFT,
      `Migration ${migration.id} has drifted: ${first ?? `${violations} foreign-key violation(s)`}`,
    );
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
      plan: this.#plan,
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
    const unchanged = /nothing was changed|unchanged/i.test(message) ? '' : ' The database is unchanged.';
    if (!this.#backup) return `${message}${unchanged}`;
    return `${message}${unchanged} Backup: ${this.#backup.path} (restore with: gao-migrate restore --db ${quoteArg(this.#dbPath)} --from ${quoteArg(this.#backup.path)}).`;
  }
}

/**
 * A dry run's look at what the row copies of a plan's table rebuilds would meet: rows that break the CHECK
 * constraints of the definition they are copied into stop the real run (its `quick_check` leaves CHECK
 * constraints out, as a read-only connection does).
 */
function assertRowsPassChecks(
  db: Database,
  migration: Migration,
  direction: Direction,
  plan: MigrationPlan,
): void {
  for (const { table, createSql } of plan.rebuiltTables ?? []) {
    const broken = rowsBreakingChecksOf(db, table, createSql);
    if (broken) {
      throw new MigrationError(
        ErrorCode.MIGRATION_FAILED,
        `Migration ${migration.id} ${direction} would fail when it copies the rows of ${table}: ${broken}.`,
      );
    }
  }
}

function quickCheckOf(db: Database, tables: readonly string[]): string {
  for (const table of tables) {
    const exists = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table);
    if (!exists) continue;
    const result = String(db.prepare('SELECT * FROM pragma_quick_check(?)').pluck().get(table));
    if (result !== 'ok') return `${table}: ${result}`;
  }
  return 'ok';
}

function quoteArg(value: string): string {
  return /^[\w./:\\-]+$/.test(value) ? value : `"${value.replaceAll('"', '\\"')}"`;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function rowCount(db: Database, table: string): number {
  return Number(
    db
      .prepare(`SELECT count(*) FROM ${quoteIdentifier(table)}`)
      .pluck()
      .get(),
  );
}
