import type { JobsOptions } from 'bullmq';
import type { JobName, MigrationJobData } from './contract.js';

/** Attempts a job gets by default: the first run and four retries. */
export const DEFAULT_ATTEMPTS = 5;
/**
 * Times a job may be handed back after its worker died before it fails as stalled. BullMQ's default (1) would
 * fail a job whose worker was killed twice (a rollout whose controller was); re-running a stalled job is safe, so the bound only stops a job that
 * crashes every worker that takes it from cycling for ever.
 */
export const DEFAULT_MAX_STALLED_COUNT = 10;

/** First retry delay, in ms; each further retry waits twice as long (1 s, 2 s, 4 s, 8 s). */
export const DEFAULT_BACKOFF_DELAY_MS = 1_000;

/**
 * Options the producer gives every job. Services that add jobs with BullMQ directly should pass the same
 * `attempts` and `backoff`; a worker still retries retryable failures of jobs added without them (see the
 * worker's `defaultAttempts`).
 */
export function defaultJobOptions(attempts = DEFAULT_ATTEMPTS): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: DEFAULT_BACKOFF_DELAY_MS },
    // Kept long enough for dashboards and `enqueue --wait`, bounded so a fleet does not fill Redis.
    removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
    removeOnFail: { age: 30 * 24 * 3600, count: 50_000 },
  };
}

/**
 * The deduplication id of a job: the same operation, migration and dry-run flag on the same database collapse
 * into one job while it is waiting, delayed or active (BullMQ `deduplication: { id }`).
 */
export function deduplicationIdOf(name: JobName, data: MigrationJobData): string {
  return [name, data.migration ?? 'latest', data.dryRun ? 'dry-run' : 'run', data.dbPath].join('|');
}

/** Marks, at the end of a job's deduplication id, the change it was queued after (`-`: none). */
export const AFTER_MARK = '|after:';

/**
 * The deduplication id the producer gives a job: `deduplicationIdOf` plus the change it must follow (the last `up`
 * or `down` queued for the database before it), so that it collapses only into a job queued after that change.
 * BullMQ stores it with the job, in the same step as the job itself, as `job.deduplicationId`; workers read the
 * change back from it (`changeFollowedBy`) to run a database's jobs in the order they were queued.
 */
export function orderedDeduplicationIdOf(
  name: JobName,
  data: MigrationJobData,
  after: string | null | undefined,
): string {
  return `${deduplicationIdOf(name, data)}${AFTER_MARK}${after ?? '-'}`;
}

/** The id of the change a job was queued after, from its deduplication id; undefined when none or not ours. */
export function changeFollowedBy(deduplicationId: string | undefined): string | undefined {
  const at = deduplicationId?.lastIndexOf(AFTER_MARK) ?? -1;
  if (at < 0) return undefined;
  const id = (deduplicationId as string).slice(at + AFTER_MARK.length);
  return id === '-' || id === '' ? undefined : id;
}
