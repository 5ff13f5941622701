import type { Job, JobType, Queue } from 'bullmq';
import { engineResultOfJob } from '../queue/job-result.js';
import { wasRefusedByGate } from '../queue/rollout-gate.js';

/**
 * How the fleet page names a database's state. BullMQ's prioritized, paused and waiting-children count as
 * waiting; `not-started` is a database of a `gao-migrate fleet` rollout whose job has not been added yet.
 */
export type FleetState =
  | 'waiting'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'not-started';
export const FLEET_STATES: readonly FleetState[] = [
  'waiting',
  'delayed',
  'active',
  'completed',
  'failed',
  'cancelled',
  'not-started',
];

/**
 * BullMQ lists scanned, in the order jobs move through them: a job that moves while the lists are read is seen
 * again in a later list rather than missed, and the later sighting wins.
 */
const SCANNED_TYPES: readonly [JobType, FleetState][] = [
  ['waiting', 'waiting'],
  ['paused', 'waiting'],
  ['prioritized', 'waiting'],
  ['waiting-children', 'waiting'],
  ['delayed', 'delayed'],
  ['active', 'active'],
  ['completed', 'completed'],
  ['failed', 'failed'],
];

const PAGE_SIZE = 500;

/** Most jobs read per request. Default: 20,000 (a few MB from Redis); the page says when it stopped there. */
export const DEFAULT_MAX_SCANNED_JOBS = 20_000;

export interface FleetRow {
  jobId: string;
  jobName: string;
  dbPath: string;
  state: FleetState;
  /** True for a dry run (a rollout's preflight). */
  dryRun: boolean;
  backupPath: string | null;
  /** Backups that earlier attempts of the job kept before they failed and were retried, oldest first. */
  earlierBackups: string[];
  durationMs: number | null;
  /** The engine's status (`applied`, `rolled-back`, ...) once the job completed. */
  status: string | null;
  error: string | null;
  /** What the job's `down` dropped (a dry run: would drop), in words; null when nothing. */
  discarded: string | null;
  attemptsMade: number;
  /** When the job was added, in ms since the epoch. */
  addedAt: number;
}

export type FleetCounts = Record<FleetState, number> & { total: number };

export interface Rollout {
  rolloutId: string;
  /** One row per database: its latest real (not dry-run) job, else its latest dry run. */
  rows: FleetRow[];
  counts: FleetCounts;
  /** Completed plus failed, out of total, as a whole percentage. */
  percent: number;
  firstAddedAt: number;
  /** From the rollout job, when the rollout was started with `gao-migrate fleet`: its state and halt reason. */
  state?: 'waiting' | 'running' | 'completed' | 'halted';
  reason?: string | null;
}

export interface FleetSnapshot {
  rollouts: Rollout[];
  /** True when the scan stopped at the job limit, so older rollouts may be missing or incomplete. */
  truncated: boolean;
}

export function emptyCounts(): FleetCounts {
  return {
    total: 0,
    waiting: 0,
    delayed: 0,
    active: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    'not-started': 0,
  };
}

/**
 * Reads the queue's jobs in every state and groups those that carry `data.rolloutId` into rollouts, newest
 * first. Jobs without a rollout id (plain `enqueue`) are left out.
 */
export async function readFleet(
  queue: Queue,
  options: { maxJobs?: number; rolloutId?: string } = {},
): Promise<FleetSnapshot> {
  const maxJobs = options.maxJobs ?? DEFAULT_MAX_SCANNED_JOBS;
  const seen = new Map<string, { job: Job; state: FleetState }>();
  let scanned = 0;
  let truncated = false;
  for (const [type, state] of SCANNED_TYPES) {
    for (let start = 0; ; start += PAGE_SIZE) {
      const remaining = maxJobs - scanned;
      if (remaining <= 0) {
        truncated = true;
        break;
      }
      const size = Math.min(PAGE_SIZE, remaining);
      const page = (await queue.getJobs([type], start, start + size - 1, true)) as Job[];
      scanned += page.length;
      for (const job of page) {
        if (job?.id && rolloutIdOf(job) !== undefined) seen.set(job.id, { job, state });
      }
      if (page.length < size) break;
    }
    if (truncated) break;
  }

  const byRollout = new Map<string, FleetRow[]>();
  for (const { job, state } of seen.values()) {
    const rolloutId = rolloutIdOf(job) as string;
    if (options.rolloutId !== undefined && rolloutId !== options.rolloutId) continue;
    const rows = byRollout.get(rolloutId) ?? [];
    rows.push(rowOf(job, state));
    byRollout.set(rolloutId, rows);
  }
  const rollouts = [...byRollout].map(([rolloutId, rows]) => summarise(rolloutId, rows));
  rollouts.sort((a, b) => b.firstAddedAt - a.firstAddedAt || a.rolloutId.localeCompare(b.rolloutId));
  return { rollouts, truncated };
}

function rolloutIdOf(job: Job): string | undefined {
  const value = (job.data as { rolloutId?: unknown } | null)?.rolloutId;
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function rowOf(job: Job, scanned: FleetState): FleetRow {
  // A job its rollout's gate refused (failures had passed --max-failures) never started: cancelled, not failed.
  const state = scanned === 'failed' && wasRefusedByGate(job.failedReason) ? 'cancelled' : scanned;
  const data = job.data as { dbPath?: unknown; dryRun?: unknown };
  const result = engineResultOfJob(job, state) as {
    backupPath?: unknown;
    earlierBackups?: unknown;
    durationMs?: unknown;
    status?: unknown;
    ok?: unknown;
    error?: { code?: unknown; message?: unknown } | null;
    discarded?: unknown;
  } | null;
  // A completed job whose engine result says not ok (e.g. verify found drift) still has an error to show.
  const resultError =
    result?.ok === false && result.error && typeof result.error.message === 'string'
      ? `${typeof result.error.code === 'string' ? `${result.error.code}: ` : ''}${result.error.message}`
      : null;
  const dryRun = data?.dryRun === true;
  return {
    jobId: String(job.id),
    jobName: job.name,
    dbPath: typeof data?.dbPath === 'string' ? data.dbPath : '(no dbPath)',
    // A passed dry run (a rollout's preflight) is not the migration: the database still waits for its real job.
    state: dryRun && state === 'completed' ? 'waiting' : state,
    dryRun,
    backupPath: typeof result?.backupPath === 'string' ? result.backupPath : null,
    earlierBackups: Array.isArray(result?.earlierBackups)
      ? result.earlierBackups.filter((entry): entry is string => typeof entry === 'string')
      : [],
    durationMs: typeof result?.durationMs === 'number' ? result.durationMs : null,
    status: typeof result?.status === 'string' ? result.status : null,
    error: state === 'failed' ? job.failedReason || 'failed' : resultError,
    discarded: discardedText(result?.discarded),
    attemptsMade: job.attemptsMade,
    addedAt: job.timestamp,
  };
}

/** `3 rows of learning_applications; the metrics of 2 learnings (...)` from a result's `discarded`, or null. */
export function discardedText(discarded: unknown): string | null {
  if (!Array.isArray(discarded)) return null;
  const lost = discarded.filter(
    (item): item is { rows: number; message: string } =>
      typeof item?.rows === 'number' && item.rows > 0 && typeof item.message === 'string',
  );
  return lost.length > 0 ? lost.map((item) => item.message).join('; ') : null;
}

/** Keeps one row per database: a real run beats a dry run, then the newest job wins. */
function summarise(rolloutId: string, jobs: FleetRow[]): Rollout {
  const byDb = new Map<string, FleetRow>();
  for (const row of jobs) {
    const current = byDb.get(row.dbPath);
    if (!current || outranks(row, current)) byDb.set(row.dbPath, row);
  }
  const rows = [...byDb.values()].sort((a, b) => a.dbPath.localeCompare(b.dbPath));
  return { rolloutId, rows, ...countRows(rows), firstAddedAt: Math.min(...jobs.map((row) => row.addedAt)) };
}

/** Counts of the rows by state, and the finished (completed or failed) share as a whole percentage. */
export function countRows(rows: readonly FleetRow[]): { counts: FleetCounts; percent: number } {
  const counts = emptyCounts();
  for (const row of rows) counts[row.state] += 1;
  counts.total = rows.length;
  const finished = counts.completed + counts.failed;
  return { counts, percent: counts.total === 0 ? 0 : Math.floor((finished * 100) / counts.total) };
}

function outranks(candidate: FleetRow, current: FleetRow): boolean {
  if (candidate.dryRun !== current.dryRun) return !candidate.dryRun;
  return candidate.addedAt > current.addedAt;
}
