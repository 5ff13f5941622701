import type { Job, Queue } from 'bullmq';
import { engineResultOfJob } from '../queue/job-result.js';
import { wasRefusedByGate } from '../queue/rollout-gate.js';
import { type JobStanding, jobStates } from './job-states.js';
import { type KeptOutcome, readKeptOutcomes } from './kept-outcomes.js';
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

/** A database's state in a rollout, from where its job stands. */
export function databaseStateOf(standing: JobStanding): DatabaseState {
  switch (standing) {
    case 'completed':
      return 'done';
    case 'missing':
      return 'not-started';
    default:
      return standing;
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

/** The jobs of the given ids that still exist, fetched in batches, by id. */
async function fetchJobs(queue: Queue, ids: readonly string[]): Promise<Map<string, Job>> {
  const jobs = new Map<string, Job>();
  for (let start = 0; start < ids.length; start += FETCH_BATCH) {
    const batch = await Promise.all(ids.slice(start, start + FETCH_BATCH).map((id) => queue.getJob(id)));
    for (const job of batch) if (job?.id) jobs.set(job.id, job);
  }
  return jobs;
}

/**
 * The per-database picture of a rollout, read from Redis: the apply job of each database when it exists,
 * otherwise its preflight job; a job BullMQ trimmed after it finished, as its controller kept it (see
 * kept-outcomes.ts); cancellations and the halt reason from the rollout job's progress.
 */
export async function collectReport(
  queue: Queue,
  data: RolloutData,
  progress: Partial<RolloutProgress>,
  rolloutState: RolloutState,
): Promise<RolloutReport> {
  const total = data.targets.length;
  const idsOf = (stage: Stage) => data.targets.map((_, index) => childJobId(data.rolloutId, stage, index));
  const applyIds = idsOf('apply');
  const preflightIds = data.preflight ? idsOf('preflight') : [];
  const applyStates = await jobStates(queue, applyIds);
  const preflightStates = await jobStates(queue, preflightIds);
  // Only a database without its apply job may have an outcome kept that is not read live.
  const unapplied = data.targets.flatMap((_, index) => (applyStates[index] === 'missing' ? [index] : []));
  const keptOf = new Map<number, KeptOutcome>();
  (await readKeptOutcomes(queue, data.rolloutId, unapplied)).forEach((outcome, position) => {
    if (outcome) keptOf.set(unapplied[position] as number, outcome);
  });
  // Each database's job: its apply job when it exists, otherwise its preflight job; a job trimmed after it
  // finished counts as it was kept, unless a job of the same stage or a later one exists.
  const chosen = data.targets.map((_, index) => {
    const applied = applyStates[index] ?? 'missing';
    const checked = preflightStates[index] ?? 'missing';
    const kept = keptOf.get(index);
    if (applied !== 'missing')
      return { stage: 'apply' as const, jobId: applyIds[index] as string, standing: applied };
    if (kept?.stage === 'apply') return { stage: kept.stage, jobId: kept.jobId, standing: kept.state, kept };
    if (checked !== 'missing') {
      return { stage: 'preflight' as const, jobId: preflightIds[index] as string, standing: checked };
    }
    if (kept) return { stage: kept.stage, jobId: kept.jobId, standing: kept.state, kept };
    return null;
  });
  // Only a finished job has a result or a reason to show: only those are read.
  const finished = await fetchJobs(
    queue,
    chosen.flatMap((job) =>
      job && !('kept' in job) && (job.standing === 'completed' || job.standing === 'failed')
        ? [job.jobId]
        : [],
    ),
  );
  const cancelled = new Set(progress.cancelled ?? []);
  const counts = emptyCounts(total);
  const databases: RolloutDatabase[] = data.targets.map((dbPath, index) => {
    const chose = chosen[index] ?? null;
    const jobId = chose?.jobId ?? null;
    let state =
      cancelled.has(index) && chose?.stage !== 'apply'
        ? 'cancelled'
        : databaseStateOf(chose?.standing ?? 'missing');
    // A passed preflight is not the migration: the database is still waiting for its apply job.
    if (chose?.stage === 'preflight' && state === 'done')
      state = rolloutState === 'halted' ? 'cancelled' : 'waiting';
    const kept = chose && 'kept' in chose ? chose.kept : undefined;
    const job = jobId && !kept ? finished.get(jobId) : undefined;
    const failedReason = kept ? kept.error : job?.failedReason;
    // Refused by the rollout's gate once failures passed --max-failures: it never started.
    if (state === 'failed' && wasRefusedByGate(failedReason)) state = 'cancelled';
    counts[state] += 1;
    // A failed job keeps its engine result (and the backup it made) in its progress.
    const result = kept ?? (job ? engineResultOfJob(job, chose?.standing ?? 'missing') : null);
    const lost = (result?.discarded ?? []).filter((item) => item.rows > 0);
    return {
      dbPath,
      state,
      stage: chose?.stage ?? null,
      jobId,
      backupPath: result?.backupPath ?? null,
      earlierBackups: result?.earlierBackups ?? [],
      durationMs: result?.durationMs ?? null,
      error: state === 'failed' ? (failedReason ?? 'failed') : null,
      // A preflight's dry run only says what would go: what went is what an apply job reports.
      discarded: chose?.stage === 'apply' ? lost : [],
      wouldDiscard: chose?.stage === 'preflight' ? lost : [],
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
  // The state first, then the job: a job read before it failed has neither its halt reason nor its failedReason,
  // and a halted rollout would then be reported as 'halted - the rollout failed'.
  const jobState = await rollouts.getJobState(rolloutId);
  const job = (await rollouts.getJob(rolloutId)) as Job<RolloutData> | undefined;
  if (!job) return null;
  const progress = (typeof job.progress === 'object' ? job.progress : {}) as Partial<RolloutProgress>;
  const haltedByController = Boolean(progress.halted);
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
  } else if (haltedByController && state === 'halted' && result.stage === 'preflight' && inFlight === 0) {
    // Its failed dry runs were retried some other way (bull-board): the reason naming them no longer holds.
    if (result.counts.failed === 0) result.reason = preflightPassedSince(rolloutId);
  }
  return result;
}

function preflightPassedSince(rolloutId: string): string {
  return `Preflight failed, so nothing was applied; the dry runs that failed have passed since. gao-migrate retry ${rolloutId} --failed resumes the rollout.`;
}
