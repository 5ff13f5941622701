import { JOB_OF_OPERATION, type JobName, type MigrationJobData } from '../queue/contract.js';
import { childJobId, type RolloutData, type Stage } from './rollout.js';

/** A rollout's database job as BullMQ's `add` and `addBulk` take it. */
export interface DatabaseJob {
  name: JobName;
  data: MigrationJobData;
  opts: { jobId: string; attempts: number; backoff: { type: 'exponential'; delay: number } };
}

/**
 * The job of the database at `index` in one stage of a rollout: what the controller adds, and what `retry
 * --failed` adds again for a database a halt cancelled. Its id is deterministic, so it is never added twice.
 */
export function databaseJobOf(data: RolloutData, stage: Stage, index: number): DatabaseJob {
  return {
    name: JOB_OF_OPERATION[data.op],
    data: {
      dbPath: data.targets[index] as string,
      ...(data.migration ? { migration: data.migration } : {}),
      ...(stage === 'preflight' ? { dryRun: true } : {}),
      rolloutId: data.rolloutId,
    },
    opts: {
      jobId: childJobId(data.rolloutId, stage, index),
      attempts: stage === 'preflight' ? 1 : data.attempts,
      backoff: { type: 'exponential', delay: 1000 },
    },
  };
}
