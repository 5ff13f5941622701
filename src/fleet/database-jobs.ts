import type { Queue } from 'bullmq';
import { databaseKeyOf } from '../producer/database-key.js';
import { JOB_OF_OPERATION, type JobName, type MigrationJobData } from '../queue/contract.js';
import { AFTER_MARK } from '../queue/job-options.js';
import {
  changeToFollow,
  isChange,
  type LastChanges,
  lastChangesKeyOf,
  readLastChanges,
  recordChanges,
} from '../queue/last-changes.js';
import { childJobId, type RolloutData, type Stage } from './rollout.js';

/** A rollout's database job as BullMQ's `add` and `addBulk` take it. */
export interface DatabaseJob {
  name: JobName;
  data: MigrationJobData;
  opts: {
    jobId: string;
    attempts: number;
    backoff: { type: 'exponential'; delay: number };
    /** Unique to the job (nothing collapses into it): it only carries the change it follows, as the producer's do. */
    deduplication?: { id: string };
  };
}

/**
 * The job of the database at `index` in one stage of a rollout: what the controller adds, and what `retry
 * --failed` adds again for a database a halt cancelled. Its id is deterministic, so it is never added twice.
 */
export function databaseJobOf(
  data: RolloutData,
  stage: Stage,
  index: number,
  after: string | null = null,
): DatabaseJob {
  const jobId = childJobId(data.rolloutId, stage, index);
  return {
    name: JOB_OF_OPERATION[data.op],
    data: {
      dbPath: data.targets[index] as string,
      ...(data.migration ? { migration: data.migration } : {}),
      ...(stage === 'preflight' ? { dryRun: true } : {}),
      rolloutId: data.rolloutId,
    },
    opts: {
      jobId,
      attempts: stage === 'preflight' ? 1 : data.attempts,
      backoff: { type: 'exponential', delay: 1000 },
      ...(after !== null && { deduplication: { id: `rollout|${jobId}${AFTER_MARK}${after}` } }),
    },
  };
}

/**
 * Adds the jobs of one stage for the databases at `indexes`, each following the last change queued for its database
 * before it (by `gao-migrate enqueue` or another rollout: see src/queue/last-changes.ts), and records the stage's
 * changes as their databases' last, so that jobs queued after them, by either, run after them. Ids are
 * deterministic: a job that already exists is not added twice.
 */
export async function addDatabaseJobs(
  migrations: Queue,
  data: RolloutData,
  stage: Stage,
  indexes: readonly number[],
): Promise<void> {
  if (indexes.length === 0) return;
  const name = JOB_OF_OPERATION[data.op];
  const dryRun = stage === 'preflight';
  const client = await migrations.client;
  const keys = indexes.map((index) =>
    lastChangesKeyOf(migrations, databaseKeyOf(data.targets[index] as string)),
  );
  const last = await readLastChanges(client, keys);
  const jobs = indexes.map((index, position) =>
    databaseJobOf(data, stage, index, changeToFollow(last[position] as LastChanges, name, dryRun)),
  );
  await migrations.addBulk(jobs);
  if (isChange(name, dryRun)) {
    await recordChanges(
      client,
      keys,
      name,
      jobs.map((job) => job.opts.jobId),
    );
  }
}
