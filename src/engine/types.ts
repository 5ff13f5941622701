import type { Database } from 'better-sqlite3';
import type { ErrorCode } from './errors.js';

export type Direction = 'up' | 'down';
export type Operation = Direction | 'verify';

/** What a run ended in. The CLI's `--json` and the queue's job return value carry it as `status`. */
export type RunStatus =
  | 'applied'
  | 'already-applied'
  | 'rolled-back'
  | 'not-applied'
  | 'planned'
  | 'verified'
  | 'failed';

export interface VerificationIssue {
  /** Machine-readable kind of drift, e.g. `missing-column`, `wrong-default`, `missing-index`. */
  kind: string;
  /** The schema object the issue is about, e.g. `learning_index.success_rate`. */
  object: string;
  /** One sentence for people. */
  message: string;
}

export interface Verification {
  ok: boolean;
  /** `applied` when every object of the migration is present, `not-applied` when none is, `partial` otherwise. */
  state: 'applied' | 'not-applied' | 'partial';
  issues: VerificationIssue[];
  /** Result of `PRAGMA quick_check` (or `integrity_check` with `full`), `ok` when clean. */
  integrity: string;
  /** Rows reported by `PRAGMA foreign_key_check` for the tables the migration touches. */
  foreignKeyViolations: number;
}

export interface BackupInfo {
  path: string;
  sha256: string;
  bytes: number;
  /**
   * `copy` for a page-exact file copy under the write lock; `copy-wal` for that copy with the WAL's frames that no
   * checkpoint could yet fold in copied too and checkpointed into it; `serialize` for SQLite's own page image.
   */
  method: 'copy' | 'copy-wal' | 'serialize';
}

export interface RunResult {
  ok: boolean;
  op: Operation;
  migration: string;
  /** Absolute path of the database. */
  db: string;
  status: RunStatus;
  dryRun: boolean;
  backupPath: string | null;
  backupSha256: string | null;
  /** Engine time in milliseconds, from the call to the closed connection: checks, backup, change, verification. */
  durationMs: number;
  verification: Verification | null;
  /** The SQL that runs (dry run) or ran, in order. Empty when there was nothing to do, or a dry run failed. */
  plan: string[];
  /** Milliseconds spent in each step, in order. */
  steps: StepTiming[];
  /**
   * Data the change dropped, which only its backup still holds (`down`); on a dry run, what it would drop.
   * Empty for `up` and `verify`, and when nothing was changed or planned.
   */
  discarded: DiscardedData[];
  error: { code: ErrorCode; message: string; retryable: boolean } | null;
}

/** Data a change drops from the database: afterwards only the backup taken before it holds it. */
export interface DiscardedData {
  /** What goes: a table, or a table's columns, e.g. `learning_applications`. */
  object: string;
  /** Rows that held it. 0 when there was nothing in it to lose. */
  rows: number;
  /** One phrase for people, e.g. `12 rows of learning_applications`. */
  message: string;
}

export type Step = 'preconditions' | 'lock' | 'backup' | 'migrate' | 'verify' | 'commit';

export interface StepTiming {
  step: Step;
  ms: number;
}

/** Progress events, in order. Throwing from the listener aborts the run and rolls it back. */
export type ProgressEvent =
  | { type: 'step'; step: Step; op: Operation; migration: string; db: string }
  | { type: 'statement'; index: number; total: number; sql: string }
  | { type: 'backup'; path: string; bytes: number; method: BackupInfo['method'] };

export type ProgressListener = (event: ProgressEvent) => void;

/** A plan: the statements a direction runs, in order, inside one transaction. */
export interface MigrationPlan {
  statements: string[];
  /** Run with `PRAGMA foreign_keys=OFF` around the transaction (table rebuilds need it). */
  foreignKeysOff: boolean;
  /** Tables whose foreign keys (as child or parent) must show no new violation before commit. */
  foreignKeyCheckTables: string[];
  /** Tables `quick_check` runs on before commit. Default: `foreignKeyCheckTables`. */
  quickCheckTables?: string[];
  /** Tables whose row count must be the same after the statements as before. Default: none. */
  rowCountTables?: string[];
  /** Data the statements drop, counted under the transaction's lock when the plan is made. Default: none. */
  discards?: DiscardedData[];
  /**
   * Tables the statements rebuild, each with the `CREATE TABLE` it gets back. The row copy enforces that
   * definition's CHECK constraints, so a dry run reads the rows against them. Default: none.
   */
  rebuiltTables?: { table: string; createSql: string }[];
}

/**
 * One migration. Kept small on purpose (compare Kysely's `{ up, down }`): it inspects, plans and verifies;
 * the engine owns locking, backups, transactions and errors.
 */
/** How far `Migration.probeConstraints` goes. */
export interface ProbeOptions {
  /**
   * Also the tries that cost a pass over a whole table (default true). `verify` runs them; a change's own
   * verification does not: its statements have just made the definitions that `inspect` compares, and a pass over
   * a million rows would cost more than the change.
   */
  thorough?: boolean;
}

export interface Migration {
  /** Version as gao-dev records it in `schema_version`, e.g. `'006'`. */
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** The version that must be recorded before `up`. */
  readonly requires: string;
  /** Tables that must exist before either direction runs. */
  readonly requiredTables: readonly string[];
  /** Tables `verify` checks foreign keys of. Default: `requiredTables`. */
  readonly touchedTables?: readonly string[];
  /** Refuses (throws `MigrationError`) when a direction cannot run safely on this database. */
  assertCanRun(db: Database, direction: Direction): void;
  planUp(db: Database): MigrationPlan;
  planDown(db: Database): MigrationPlan;
  /** Schema issues against the state after `up`; also reports whether it is applied, partly or not at all. */
  inspect(db: Database): { state: Verification['state']; issues: VerificationIssue[] };
  /** Issues against the state after `down` (empty when the database is as it was before `up`). */
  inspectReverted(db: Database): VerificationIssue[];
  /** Proves the constraints are enforced by trying rows that must be refused, inside a savepoint. */
  probeConstraints?(db: Database, options?: ProbeOptions): VerificationIssue[];
}
