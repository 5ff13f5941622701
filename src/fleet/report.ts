import type { Job, JobState, Queue } from 'bullmq';
import type { MigrationJobResult } from '../queue/contract.js';
import {
  childJobId,
  type DatabaseState,
  emptyCounts,
  type RolloutData,
  type RolloutDatabase,
  type RolloutProgress,
  type RolloutReport,
  type RolloutState,
  type Stage,
} from './rollout.js';

const FETCH_BATCH = 200;

/** Maps BullMQ's job states to a rollout's database states. */
export function databaseStateOf(state: JobState | 'unknown'): DatabaseState {
  switch (state) {
    case 'completed':
      return 'done';
    case 'failed':
      return 'failed';
    case 'active':
      return 'active';
    case 'unknown':
      return 'not-started';
    default:
      return 'waiting';
  }
}

/** The child jobs of one stage, fetched in batches; a missing job is `undefined`. */
export async function fetchChildren(
  queue: Queue,
  rolloutId: string,
  stage: Stage,
  count: number,
): Promise<(Job | undefined)[]> {
  const jobs: (Job | undefined)[] = [];
  for (let start = 0; start < count; start += FETCH_BATCH) {
    const ids = Array.from({ length: Math.min(FETCH_BATCH, count - start) }, (_, i) =>
      childJobId(rolloutId, stage, start + i),
    );
    jobs.push(...(await Promise.all(ids.map((id) => queue.getJob(id)))));
  }
  return jobs;
}

async function stateOf(job: Job | undefined): Promise<JobState | 'unknown'> {
  if (!job) return 'unknown';
  return job.getState();
}

/**
 * The per-database picture of a rollout, read from Redis: the apply job of each database when it exists,
 * otherwise its preflight job; cancellations and the halt reason from the rollout job's progress.
 */
export async function collectReport(
  queue: Queue,
  data: RolloutData,
  progress: Partial<RolloutProgress>,
  rolloutState: RolloutState,
): Promise<RolloutReport> {
  const total = data.targets.length;
  const apply = await fetchChildren(queue, data.rolloutId, 'apply', total);
  const preflight = data.preflight ? await fetchChildren(queue, data.rolloutId, 'preflight', total) : [];
  const applyStates = await Promise.all(apply.map(stateOf));
  const preflightStates = await Promise.all(preflight.map(stateOf));
  const cancelled = new Set(progress.cancelled ?? []);
  const counts = emptyCounts(total);
  const databases: RolloutDatabase[] = data.targets.map((dbPath, index) => {
    const applied = apply[index];
    const checked = preflight[index];
    const stage: Stage | null = applied ? 'apply' : checked ? 'preflight' : null;
    const job = applied ?? checked;
    const jobState = (applied ? applyStates[index] : preflightStates[index]) ?? 'unknown';
    let state = cancelled.has(index) && !applied ? 'cancelled' : databaseStateOf(jobState);
    // A passed preflight is not the migration: the database is still waiting for its apply job.
    if (stage === 'preflight' && state === 'done')
      state = rolloutState === 'halted' ? 'cancelled' : 'waiting';
    counts[state] += 1;
    const result = job?.returnvalue as MigrationJobResult | null | undefined;
    return {
      dbPath,
      state,
      stage,
      jobId: job?.id ?? null,
      backupPath: result?.backupPath ?? null,
      durationMs: result?.durationMs ?? null,
      error: state === 'failed' ? (job?.failedReason ?? 'failed') : null,
    };
  });
  return {
    rolloutId: data.rolloutId,
    op: data.op,
    state: rolloutState,
    reason: progress.halted ?? null,
    stage: progress.stage ?? null,
    databases,
    counts,
  };
}

/**
 * The report of one rollout, or null when the rollouts queue has no such rollout. The rollout job's own state
 * says running, completed or halted; databases still in flight after a halt or a retry keep it `running`.
 */
export async function readRolloutReport(
  rollouts: Queue,
  migrations: Queue,
  rolloutId: string,
): Promise<RolloutReport | null> {
  const job = (await rollouts.getJob(rolloutId)) as Job<RolloutData> | undefined;
  if (!job) return null;
  const jobState = await job.getState();
  const progress = (typeof job.progress === 'object' ? job.progress : {}) as Partial<RolloutProgress>;
  if (jobState === 'failed' && !progress.halted) progress.halted = job.failedReason ?? 'the rollout failed';
  const state: RolloutState =
    jobState === 'completed'
      ? 'completed'
      : jobState === 'failed'
        ? 'halted'
        : jobState === 'active'
          ? 'running'
          : 'waiting';
  const result = await collectReport(migrations, job.data, progress, state);
  const inFlight = result.counts.waiting + result.counts.active;
  if ((state === 'completed' || state === 'halted') && inFlight > 0) result.state = 'running';
  // After `retry --failed` succeeded everywhere, a halted rollout has nothing left to report as halted.
  if (state === 'halted' && inFlight === 0 && result.counts.done === result.counts.total) {
    result.state = 'completed';
    result.reason = null;
  }
  return result;
}
