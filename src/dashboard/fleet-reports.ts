import type { Job, Queue } from 'bullmq';
import { readRolloutReport } from '../fleet/report.js';
import type { DatabaseState, RolloutData, RolloutDatabase, RolloutReport } from '../fleet/rollout.js';
import {
  countRows,
  DEFAULT_MAX_SCANNED_JOBS,
  discardedText,
  type FleetRow,
  type FleetSnapshot,
  type FleetState,
  type Rollout,
  readFleet,
} from './fleet-data.js';

/** States of a rollout job that still exists, as `gao-migrate status` lists them. */
const ROLLOUT_JOB_TYPES = [
  'active',
  'waiting',
  'delayed',
  'prioritized',
  'paused',
  'completed',
  'failed',
] as const;

/** Most rollout jobs read per request; older ones show only as far as their database jobs do. */
const MAX_ROLLOUT_JOBS = 200;

/**
 * The rollouts of a queue as the pages and `/metrics` show them. A rollout started with `gao-migrate fleet`
 * is the rollout report `gao-migrate status` prints (every database, with or without a job; states, halt,
 * cancellations), with each row's details from its job; any other group of jobs carrying a `rolloutId` is read
 * from its jobs alone. Newest first.
 *
 * The report's targets count against `maxJobs` like scanned jobs: past it, older rollouts fall back to their
 * jobs and the snapshot says it was truncated.
 */
export async function readFleetView(
  migrations: Queue,
  rollouts: Queue,
  options: { maxJobs?: number; rolloutId?: string } = {},
): Promise<FleetSnapshot> {
  const maxJobs = options.maxJobs ?? DEFAULT_MAX_SCANNED_JOBS;
  const [scanned, rolloutJobs] = await Promise.all([
    readFleet(migrations, options),
    rolloutJobsOf(rollouts, options.rolloutId),
  ]);
  const byId = new Map(scanned.rollouts.map((rollout) => [rollout.rolloutId, rollout]));
  let truncated = scanned.truncated;
  let budget = maxJobs;
  for (const job of rolloutJobs) {
    const targets = job.data?.targets?.length ?? 0;
    if (targets > budget) {
      truncated = true;
      break;
    }
    budget -= targets;
    const rolloutId = job.id as string;
    const report = await readRolloutReport(rollouts, migrations, rolloutId);
    if (report) byId.set(rolloutId, rolloutFromReport(report, byId.get(rolloutId), job.timestamp));
  }
  const merged = [...byId.values()];
  merged.sort((a, b) => b.firstAddedAt - a.firstAddedAt || a.rolloutId.localeCompare(b.rolloutId));
  return { rollouts: merged, truncated };
}

async function rolloutJobsOf(rollouts: Queue, rolloutId: string | undefined): Promise<Job<RolloutData>[]> {
  if (rolloutId !== undefined) {
    const job = (await rollouts.getJob(rolloutId)) as Job<RolloutData> | undefined;
    return job ? [job] : [];
  }
  const jobs = (await rollouts.getJobs(
    [...ROLLOUT_JOB_TYPES],
    0,
    MAX_ROLLOUT_JOBS - 1,
  )) as Job<RolloutData>[];
  return jobs.filter((job) => job?.id).sort((a, b) => b.timestamp - a.timestamp);
}

/**
 * A rollout's page from its report: one row per target in the report's state (so the counts are the ones
 * `gao-migrate status` prints), with what the database's job adds (status, attempts, dry-run tag) when it was
 * scanned. `startedAt` is when the rollout job was added.
 */
function rolloutFromReport(report: RolloutReport, scanned: Rollout | undefined, startedAt: number): Rollout {
  const scannedByJob = new Map((scanned?.rows ?? []).map((row) => [row.jobId, row]));
  const rows = report.databases.map((database) => {
    const job = database.jobId ? scannedByJob.get(database.jobId) : undefined;
    return job
      ? { ...job, state: fleetStateOf(database.state, job), error: job.error ?? database.error }
      : rowFromReport(database, startedAt);
  });
  rows.sort((a, b) => a.dbPath.localeCompare(b.dbPath));
  return {
    rolloutId: report.rolloutId,
    rows,
    ...countRows(rows),
    firstAddedAt: startedAt,
    state: report.state,
    reason: report.reason,
  };
}

/** The report's state in the page's words; a job the scan saw delayed is still waiting to the report. */
function fleetStateOf(state: DatabaseState, job: FleetRow | undefined): FleetState {
  if (state === 'done') return 'completed';
  if (state === 'waiting' && job?.state === 'delayed') return 'delayed';
  return state;
}

function rowFromReport(database: RolloutDatabase, startedAt: number): FleetRow {
  return {
    jobId: database.jobId ?? '',
    jobName: '',
    dbPath: database.dbPath,
    state: fleetStateOf(database.state, undefined),
    dryRun: database.stage === 'preflight',
    backupPath: database.backupPath,
    earlierBackups: database.earlierBackups,
    durationMs: database.durationMs,
    status: null,
    error: database.error,
    discarded: discardedText(database.stage === 'preflight' ? database.wouldDiscard : database.discarded),
    attemptsMade: 0,
    addedAt: startedAt,
  };
}
