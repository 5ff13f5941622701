import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import type { JobOperation } from '../../queue/contract.js';
import { queueNameFromEnv, queueNameProblem } from '../../queue/names.js';
import { UsageError } from '../exit-codes.js';

/** Where gao-dev keeps a project's database, relative to the project's root. */
export const DEFAULT_DB_PATH = path.join('.gao-dev', 'documents.db');

export function parseNonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed)) {
    throw new InvalidArgumentError('Expected a whole number of 0 or more.');
  }
  return parsed;
}

export function parsePositiveInt(value: string): number {
  const parsed = parseNonNegativeInt(value);
  if (parsed === 0) throw new InvalidArgumentError('Expected a whole number of 1 or more.');
  return parsed;
}

/**
 * The longest wait in ms SQLite's busy timeout (and Node's timers) can take: a signed 32-bit integer. better-sqlite3
 * refuses more when it opens the database, which read as the file not being a database.
 */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** A parser for a wait in milliseconds, 0 to MAX_TIMEOUT_MS, for commander. */
export function parseTimeoutMs(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError(`Expected a whole number of milliseconds from 0 to ${MAX_TIMEOUT_MS}.`);
  }
  return parsed;
}

/**
 * The engine's default busy timeout (DEFAULT_BUSY_TIMEOUT_MS), repeated here because `--help` must not load the
 * engine (and with it better-sqlite3).
 */
export const DEFAULT_BUSY_TIMEOUT_OPTION_MS = 5_000;

/** What `worker --busy-timeout` does; `fleet --busy-timeout` says it of the worker it runs itself. */
export const WORKER_BUSY_TIMEOUT_HELP =
  'how long the engine waits for another process to release a database before the job is retried';

/** What `worker --lock-timeout` does; `fleet --lock-timeout` says it of the worker it runs itself. */
export const WORKER_LOCK_TIMEOUT_HELP =
  "how long a job waits for another worker's <db>.lock before it is retried later";

/** Shortest `--stall-timeout`: proper-lockfile refuses a staleness under 2 s. */
export const MIN_STALL_TIMEOUT_MS = 2_000;

/**
 * A parser for `--stall-timeout` (`worker`, `fleet`): a whole number of ms, MIN_STALL_TIMEOUT_MS to MAX_TIMEOUT_MS.
 * BullMQ puts it (and fractions of it) in Node's timers, which fire after 1 ms instead of a longer wait: an idle
 * worker would then check for stalled jobs and renew its locks a thousand times a second.
 */
export function parseStallTimeoutMs(value: string): number {
  const parsed = parseNonNegativeInt(value);
  if (parsed < MIN_STALL_TIMEOUT_MS || parsed > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError(`Expected ${MIN_STALL_TIMEOUT_MS} to ${MAX_TIMEOUT_MS} ms.`);
  }
  return parsed;
}

/** A parser for a whole number from 1 to `max`, for commander. */
export function parsePositiveIntUpTo(max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1 || parsed > max) {
      throw new InvalidArgumentError(`Expected a whole number from 1 to ${max}.`);
    }
    return parsed;
  };
}

/** The queue a command works on: `--queue`, else `GAO_MIGRATE_QUEUE`, else `migrations`; refused before any work. */
export function queueNameOf(option: string | undefined): string {
  const name = option ?? queueNameFromEnv();
  const problem = queueNameProblem(name);
  if (problem) {
    const source = option === undefined ? 'GAO_MIGRATE_QUEUE' : '--queue';
    throw new UsageError(
      `The queue name ${JSON.stringify(name.slice(0, 80))} (${source}) cannot be used: ${problem}.`,
    );
  }
  return name;
}

/** `--migration`, when given, is a three-digit id such as 006; refused before any work. */
export function assertMigrationId(option: string | undefined): void {
  if (option !== undefined && !/^\d{3}$/.test(option)) {
    throw new UsageError(
      `--migration takes a three-digit migration id such as 006, not "${option.slice(0, 40)}".`,
    );
  }
}

/** A dry run of `verify` (or a preflight, which is one) would only run the same read-only checks again. */
export function assertNotDryRunOfVerify(
  op: JobOperation,
  flag: '--dry-run' | '--preflight',
  given: boolean,
): void {
  if (op === 'verify' && given) {
    throw new UsageError(`${flag} applies to up and down: verify writes nothing already.`);
  }
}
