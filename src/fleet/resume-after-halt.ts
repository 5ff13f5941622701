import type { Job, Queue } from 'bullmq';
import { addDatabaseJobs } from './database-jobs.js';
import { jobStates } from './job-states.js';
import { queuedOf, removedOf } from './removed-jobs.js';
import { childJobId, failureLimit, type RolloutData, type RolloutProgress } from './rollout.js';

/**
 * What halted a rollout that `retry --failed` puts back in its queue: its preflight, its canary, or its failure
 * threshold (`--max-failures`). Each only guards the rollout that was asked for: once the failed databases are
 * retried, that rollout goes on, and halts again if they fail again. A rollout halted only because jobs were
 * removed by hand is not resumed: a removed job is never added again.
 */
export type ResumableHalt = 'preflight' | 'canary' | 'max-failures';

/** How a halted rollout's apply jobs ended, as `retry --failed` finds them. */
export interface ApplyFailures {
  /** Apply jobs that failed (not counting those the gate refused). */
  failed: number;
  /** Databases whose apply job the gate refused (failed with ROLLOUT_HALTED): cancelled, never started. */
  refused: readonly number[];
}

/** Why this halted rollout may go on, or null. */
export function resumableHaltOf(
  data: RolloutData,
  progress: RolloutProgress,
  apply: ApplyFailures,
): ResumableHalt | null {
  if (!progress.halted) return null;
  if (progress.stage === 'preflight') return 'preflight';
  if (haltedByCanary(data, progress)) return 'canary';
  if (haltedByThreshold(data, progress, apply)) return 'max-failures';
  return null;
}

/**
 * The databases a threshold's halt cancelled: those its progress names, and those the gate refused after the
 * controller's last look; not those whose job was removed by hand (they stay cancelled).
 */
export function cancelledByHalt(progress: RolloutProgress, refused: readonly number[]): number[] {
  const removed = new Set(removedOf(progress));
  const cancelled = new Set([...(progress.cancelled ?? []), ...refused]);
  return [...cancelled].filter((index) => !removed.has(index)).sort((a, b) => a - b);
}

/**
 * Whether the canary halted the rollout on a failure: it ran, the rest was never added, and no canary database
 * lost its job (a removed job is never added again, so the canary could not pass).
 */
function haltedByCanary(data: RolloutData, progress: RolloutProgress): boolean {
  const queued = queuedOf(progress);
  const lostCanary = removedOf(progress).some((index) => index < data.canary);
  return progress.stage === 'apply' && queued.includes('canary') && !queued.includes('rest') && !lostCanary;
}

/**
 * Whether failures passed `--max-failures` in the apply stage: the rest had started, and either the halt cancelled
 * databases or more failed than allowed.
 */
function haltedByThreshold(data: RolloutData, progress: RolloutProgress, apply: ApplyFailures): boolean {
  if (!data.maxFailures || progress.stage !== 'apply' || !queuedOf(progress).includes('rest')) return false;
  const limit = failureLimit(data.maxFailures, data.targets.length);
  return cancelledByHalt(progress, apply.refused).length > 0 || apply.failed > limit;
}

/**
 * Puts back on the queue the apply jobs of databases a threshold's halt cancelled: a job the gate refused (failed
 * with ROLLOUT_HALTED) is retried with its full attempts, one the halt removed before it started is added again.
 * Returns how many. Any other job (it started meanwhile, or finished) is left as it is.
 */
export async function requeueCancelled(
  migrations: Queue,
  data: RolloutData,
  indexes: readonly number[],
): Promise<number> {
  const ids = indexes.map((index) => childJobId(data.rolloutId, 'apply', index));
  const states = await jobStates(migrations, ids);
  const missing: number[] = [];
  let requeued = 0;
  for (const [position, index] of indexes.entries()) {
    if (states[position] === 'missing') missing.push(index);
    if (states[position] !== 'failed') continue;
    const job = (await migrations.getJob(ids[position] as string)) as Job | undefined;
    if (!job) {
      missing.push(index);
      continue;
    }
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    requeued += 1;
  }
  await addDatabaseJobs(migrations, data, 'apply', missing);
  return requeued + missing.length;
}
