import type { Queue } from 'bullmq';
import { wasRefusedByGate } from '../queue/rollout-gate.js';
import { failedReasons, jobStates } from './job-states.js';
import { markCancelled } from './removed-jobs.js';
import { childJobId, type RolloutData, type RolloutProgress, type Stage } from './rollout.js';

/**
 * How a rollout's controller tells and makes cancelled databases: those a worker refused at the rollout's gate
 * (see src/queue/rollout-gate.ts), and those whose jobs it removes before they start when the rollout halts.
 */

/** Which of the failed apply jobs at these indexes a worker refused at the rollout's gate (cancelled, not failed). */
export async function refusedByGate(
  migrations: Queue,
  data: RolloutData,
  stage: Stage,
  failedIndexes: number[],
): Promise<Set<number>> {
  if (stage !== 'apply' || failedIndexes.length === 0) return new Set();
  const reasons = await failedReasons(
    migrations,
    failedIndexes.map((index) => childJobId(data.rolloutId, stage, index)),
  );
  return new Set(failedIndexes.filter((_, position) => wasRefusedByGate(reasons[position])));
}

/** Removes the jobs that have not started; running ones finish; finished ones stay finished. */
export async function cancelUnstarted(
  migrations: Queue,
  data: RolloutData,
  indexes: number[],
  progress: RolloutProgress,
): Promise<void> {
  const cancelled = new Set(progress.cancelled);
  for (const index of indexes) {
    if (cancelled.has(index)) continue;
    const jobId = childJobId(data.rolloutId, 'apply', index);
    // Looked at right before its removal, one job at a time: a job that finished in between must keep its record.
    const [standing] = await jobStates(migrations, [jobId]);
    if (standing === 'waiting') {
      // 0 when it started meanwhile (its worker holds its lock): it finishes and is reported as it ends.
      if ((await migrations.remove(jobId)) !== 1) continue;
    } else if (standing !== 'missing') continue;
    cancelled.add(index);
    markCancelled(progress, index);
  }
}
