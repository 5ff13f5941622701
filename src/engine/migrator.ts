import { migrations as defaultMigrations } from '../migrations/index.js';
import { ErrorCode, MigrationError } from './errors.js';
import { Run, type RunInput } from './run.js';
import type { Migration, Operation, ProgressListener, RunResult } from './types.js';

export type { RunInput } from './run.js';

/** Default time a run waits for another connection's lock before failing with `DB_LOCKED`. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** Default free space kept beyond the backup and the migration's growth. */
export const DEFAULT_RESERVE_BYTES = 1024 * 1024;
/** Default size from which a backup's check runs on a worker thread beside the migration. */
export const DEFAULT_LARGE_DATABASE_BYTES = 64 * 1024 * 1024;

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
