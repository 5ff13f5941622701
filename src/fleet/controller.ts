import { setTimeout as sleep } from 'node:timers/promises';
import { type ConnectionOptions, type Job, Queue, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { closeQueue } from '../queue/close-queue.js';
import { closeWorker, REDIS_ANSWER_TIMEOUT_MS } from '../queue/close-worker.js';
import { withReconnectDelay } from '../queue/connection.js';
import type { MigrationJobData } from '../queue/contract.js';
import { DEFAULT_MAX_STALLED_COUNT } from '../queue/job-options.js';
import { assertRedisNotRefusing } from '../queue/redis-check.js';
import { openRolloutGate, removeRolloutGate, rolloutGateKey } from '../queue/rollout-gate.js';
import { cancelUnstarted, refusedByGate } from './cancellation.js';
import { addDatabaseJobs } from './database-jobs.js';
import { OutcomeKeeper } from './kept-outcomes.js';
import { describeRemoved, markCancelled, markRemoved, queuedOf, removedOf } from './removed-jobs.js';
import {
  failureLimit,
  type RolloutData,
  type RolloutProgress,
  rolloutDataSchema,
  rolloutsQueueName,
  type Stage,
  type Step,
} from './rollout.js';

/** How often the controller looks at its database jobs. Default: 250 ms. */
export const DEFAULT_POLL_MS = 250;

export interface RolloutControllerOptions {
  connection: ConnectionOptions;
  /** The migrations queue the database jobs go to. */
  queueName: string;
  pollMs?: number;
  /**
   * How soon a rollout whose controller died (kill -9, power loss) is taken over by another one, in ms: BullMQ's
   * lock duration and stalled-job check interval of the rollouts worker, as `--stall-timeout` sets them for the
   * migration worker. Default: BullMQ's (30000 each).
   */
  stallTimeoutMs?: number;
  /**
   * How often, while it drives a rollout, it pushes back the expiry of the rollout's kept outcomes when it writes
   * none, in ms. Default: `KEPT_OUTCOMES_REFRESH_MS` (an hour, against a time to live of 31 days).
   */
  keptOutcomesRefreshMs?: number;
  /** Called with one object per event (`stage-started`, `halted`, `completed`), for the caller's logger. */
  onEvent?: (event: Record<string, unknown>) => void;
}

export interface RolloutController {
  readonly worker: Worker;
  close(): Promise<void>;
}

/**
 * Starts the worker that drives rollouts (queue `<queue>-rollouts`). `gao-migrate worker` runs one beside the
 * migration worker; several may run on several hosts: BullMQ gives each rollout to one of them at a time.
 */
export function startRolloutController(options: RolloutControllerOptions): RolloutController {
  // BullMQ's own reconnection backs off to 20 s: a rollout started just after an outage would wait that long.
  const connection = withReconnectDelay(options.connection);
  const migrations = new Queue<MigrationJobData>(options.queueName, { connection });
  const stopping = new AbortController();
  const worker = new Worker<RolloutData>(
    rolloutsQueueName(options.queueName),
    (job, token) => driveOrHandBack(job, token, migrations, options, stopping.signal),
    {
      connection,
      concurrency: 8,
      autorun: false,
      // A rollout outlives many worker restarts; one whose controller was killed is simply taken over.
      maxStalledCount: DEFAULT_MAX_STALLED_COUNT,
      ...(options.stallTimeoutMs !== undefined && {
        lockDuration: options.stallTimeoutMs,
        stalledInterval: options.stallTimeoutMs,
      }),
    },
  );
  // While Redis is away BullMQ reports every reconnection attempt: said once, until the connection is back.
  let lastError: string | undefined;
  worker.on('error', (error) => {
    if (error.message !== lastError) options.onEvent?.({ event: 'controller-error', error: error.message });
    lastError = error.message;
  });
  worker.on('ready', () => {
    lastError = undefined;
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // The rollouts in hand are handed back, not driven to their end (they may take hours, and need the workers).
      await worker.pause(true);
      stopping.abort();
      try {
        await closeWorker(worker);
      } finally {
        // Like the worker (closeWorker): a queue closed while its connection still starts leaves a rejection.
        await closeQueue(migrations, REDIS_ANSWER_TIMEOUT_MS);
      }
    })();
    return closing;
  };
  // Like the migration worker: no rollout is taken from database 0 when Redis refuses the one asked for.
  refusalOf(options.connection).then((refusal) => {
    if (refusal) {
      options.onEvent?.({ event: 'controller-refused', error: refusal.message });
      void close();
    } else if (!closing) worker.run().catch((error: Error) => worker.emit('error', error));
  });
  return { worker, close };
}

/** Why Redis refuses these connection options (a database number it does not have), or null. */
async function refusalOf(connection: ConnectionOptions): Promise<Error | null> {
  if (connection instanceof Redis || !('host' in connection || 'port' in connection || 'db' in connection)) {
    return null; // a client the caller made, or a cluster: its setup is the caller's
  }
  const options = connection as RedisOptions;
  const url = `redis://${options.host ?? '127.0.0.1'}:${options.port ?? 6379}/${options.db ?? 0}`;
  try {
    await assertRedisNotRefusing(url, options);
    return null;
  } catch (error) {
    return error as Error;
  }
}

/** What the controller knows of the apply jobs' outcomes, by database index. */
interface Outcomes {
  done: Set<number>;
  failed: Set<number>;
}

/**
 * Drives a rollout; when the controller stops meanwhile, puts the rollout back in the waiting list, where the next
 * controller (on any host) takes it and resumes from its saved progress. If even that fails (Redis is away), the
 * rollout stays active and BullMQ's stalled-job check hands it on once its lock expires: it never fails for it.
 */
async function driveOrHandBack(
  job: Job<RolloutData>,
  token: string | undefined,
  migrations: Queue<MigrationJobData>,
  options: RolloutControllerOptions,
  stopping: AbortSignal,
) {
  try {
    // One taken while the controller began to stop goes straight back.
    stopping.throwIfAborted();
    return await driveRollout(job, migrations, options, stopping);
  } catch (error) {
    if (!stopping.aborted || error instanceof UnrecoverableError) throw error;
    const rolloutId = (job.data as Partial<RolloutData>).rolloutId;
    try {
      if (token) await job.moveToWait(token);
      options.onEvent?.({ event: 'rollout-handed-back', rolloutId });
    } catch (handBackError) {
      options.onEvent?.({ event: 'rollout-left-active', rolloutId, error: (handBackError as Error).message });
    }
    throw new WaitingError();
  }
}

async function driveRollout(
  job: Job<RolloutData>,
  migrations: Queue<MigrationJobData>,
  options: RolloutControllerOptions,
  stopping: AbortSignal,
) {
  const parsed = rolloutDataSchema.safeParse(job.data);
  if (!parsed.success)
    throw new UnrecoverableError(`Invalid rollout data: ${parsed.error.issues[0]?.message}`);
  const data = parsed.data;
  const saved = (typeof job.progress === 'object' ? job.progress : {}) as Partial<RolloutProgress>;
  const progress: RolloutProgress = {
    stage: saved.stage ?? null,
    cancelled: saved.cancelled ?? [],
    removed: saved.removed ?? [],
    queued: saved.queued ?? [],
    halted: null,
    done: 0,
    failed: 0,
    total: data.targets.length,
    percent: 0,
  };
  // A controller taking over from one that died learns what already finished from the job ids, and from the
  // outcomes kept of those BullMQ trimmed since.
  const keeper = await OutcomeKeeper.load(migrations, data, options.keptOutcomesRefreshMs);
  const outcomes = await scanApplyOutcomes(migrations, data, keeper);
  const all = data.targets.map((_, index) => index);
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const run = (step: Step, indexes: number[], limit: number) =>
    runStage({
      job,
      migrations,
      data,
      progress,
      outcomes,
      keeper,
      step,
      indexes,
      limit,
      pollMs,
      onEvent: options.onEvent,
      stopping,
    });

  if (data.preflight && progress.stage !== 'apply') {
    const failed = await run('preflight', all, Number.POSITIVE_INFINITY);
    if (failed.length > 0) {
      const names = failed.map((index) => data.targets[index]).join(', ');
      return halt(
        job,
        progress,
        `Preflight failed on ${failed.length} database(s), so nothing was applied: ${names}.`,
        options,
      );
    }
  }
  const canary = all.slice(0, data.canary);
  const rest = all.slice(data.canary);
  if (canary.length > 0) {
    const failed = await run('canary', canary, 0);
    // A canary database whose job was removed proved nothing: the canary passes only when each one succeeded.
    const lost = canary.filter((index) => removedOf(progress).includes(index));
    if (failed.length > 0 || lost.length > 0) {
      await cancelUnstarted(migrations, data, rest, progress);
      const message =
        failed.length > 0
          ? `Canary failed on ${failed.length} of ${canary.length} database(s); the other ${rest.length} were not started.`
          : `Canary incomplete: ${lost.length} of ${canary.length} database(s) lost their job; the other ${rest.length} were not started.`;
      return halt(job, progress, message, options);
    }
  }
  const limit = failureLimit(data.maxFailures, data.targets.length);
  await run('rest', rest, limit);
  if (outcomes.failed.size > limit) {
    const message = `Halted after ${outcomes.failed.size} failure(s), more than the ${limit} allowed; databases not yet started were cancelled.`;
    return halt(job, progress, message, options);
  }
  // The gate refused jobs while failures were past the limit, and a retry has since taken failures back: the
  // rollout went on, but those databases were cancelled, so it did not complete.
  const refused = progress.cancelled.filter((index) => !removedOf(progress).includes(index));
  if (refused.length > 0) {
    const message = `Halted: failures passed the ${limit} allowed while it ran, so ${refused.length} database(s) not yet started were cancelled (failures retried since do not bring them back).`;
    return halt(job, progress, message, options);
  }
  // Every job has finished: no worker will look at the gate again. A halted rollout's stays closed (it expires),
  // since a worker may still be taking a job the halt is removing.
  await removeRolloutGate(await migrations.client, rolloutGateKey(migrations, data.rolloutId));
  // Everything else went on: removing one job is how a user may skip a database. But the rollout must not read
  // `completed` as if that database were migrated, nor re-add a job someone removed on purpose.
  if (removedOf(progress).length > 0) return halt(job, progress, null, options);
  options.onEvent?.({ event: 'rollout-completed', rolloutId: data.rolloutId, failed: outcomes.failed.size });
  await job.updateProgress({ ...progress, percent: 100 });
  return {
    rolloutId: data.rolloutId,
    state: 'completed',
    done: outcomes.done.size,
    failed: outcomes.failed.size,
  };
}

interface StageRun {
  job: Job<RolloutData>;
  migrations: Queue<MigrationJobData>;
  data: RolloutData;
  progress: RolloutProgress;
  outcomes: Outcomes;
  /** Reads the jobs' states, and keeps the finished ones' outcomes where BullMQ's trimming cannot reach. */
  keeper: OutcomeKeeper;
  step: Step;
  indexes: number[];
  /** Failures allowed in the apply stages (all of them together) before the rest is cancelled. */
  limit: number;
  pollMs: number;
  onEvent: RolloutControllerOptions['onEvent'];
  /** Aborted when the controller stops: the stage stops waiting (its jobs go on without it). */
  stopping: AbortSignal;
}

/**
 * Adds the step's jobs, unless an earlier controller of the rollout did, and waits until each finished; returns
 * the failed. A job missing from the queue after it was added was removed by hand: its database is cancelled.
 */
async function runStage(run: StageRun): Promise<number[]> {
  const { job, migrations, data, progress, outcomes, step, indexes } = run;
  const stage: Stage = step === 'preflight' ? 'preflight' : 'apply';
  progress.stage = stage;
  await job.updateProgress(progress);
  const cancelled = new Set(progress.cancelled);
  const pending = indexes.filter((index) => !cancelled.has(index));
  run.onEvent?.({ event: 'stage-started', rolloutId: data.rolloutId, stage, databases: pending.length });
  // Workers refuse to start this rollout's jobs once failures pass the limit: see src/queue/rollout-gate.ts. A
  // stage with no limit (no --max-failures) has none, and must not keep one an earlier controller opened.
  // The canary has no gate: its own rule (every canary database must succeed) is the controller's, and a gate
  // there would refuse canary jobs in the name of a --max-failures that may not have been given.
  if (step === 'rest') {
    const key = rolloutGateKey(migrations, data.rolloutId);
    if (Number.isFinite(run.limit)) await openRolloutGate(await migrations.client, key, run.limit);
    else await removeRolloutGate(await migrations.client, key);
  }
  if (!queuedOf(progress).includes(step)) {
    await addDatabaseJobs(migrations, data, stage, pending);
    progress.queued = [...queuedOf(progress), step];
    await job.updateProgress(progress);
  }
  let failed: number[] = [];
  let unfinished = pending;
  while (unfinished.length > 0) {
    run.stopping.throwIfAborted();
    const looked = performance.now();
    // Failed jobs are looked at again: one `retry --failed` put back while the stage runs is unfinished again.
    const polled = [...unfinished, ...failed];
    failed = [];
    const states = await run.keeper.states(stage, polled);
    const lookMs = performance.now() - looked;
    const refused = await refusedByGate(
      migrations,
      data,
      stage,
      polled.filter((_, position) => states[position] === 'failed'),
    );
    unfinished = [];
    polled.forEach((index, position) => {
      const state = states[position];
      if (refused.has(index) || run.keeper.wasRefused(stage, index)) {
        markCancelled(progress, index);
        return;
      }
      if (state === 'missing') markRemoved(progress, index);
      else if (state === 'failed') failed.push(index);
      else if (state === 'waiting' || state === 'active') unfinished.push(index);
      if (stage === 'apply' && state === 'failed') outcomes.failed.add(index);
      else if (stage === 'apply') outcomes.failed.delete(index);
      if (stage === 'apply' && state === 'completed') outcomes.done.add(index);
    });
    if (stage === 'apply' && outcomes.failed.size > run.limit) {
      const last = Math.max(...indexes);
      const later = data.targets.map((_, index) => index).filter((index) => index > last);
      await cancelUnstarted(migrations, data, [...unfinished, ...later], progress);
      break;
    }
    await reportProgress(job, data, progress, outcomes);
    // Looking costs Redis time in proportion to the unfinished jobs: wait at least four times what it took, so
    // that a huge stage spends at most a fifth of the time looking, and the workers' own calls go first.
    if (unfinished.length > 0) {
      await sleep(Math.max(run.pollMs, 4 * lookMs), undefined, { signal: run.stopping });
    }
  }
  await reportProgress(job, data, progress, outcomes);
  return failed;
}

async function scanApplyOutcomes(
  migrations: Queue,
  data: RolloutData,
  keeper: OutcomeKeeper,
): Promise<Outcomes> {
  const states = await keeper.states(
    'apply',
    data.targets.map((_, index) => index),
  );
  const refused = await refusedByGate(
    migrations,
    data,
    'apply',
    data.targets.map((_, index) => index).filter((index) => states[index] === 'failed'),
  );
  const outcomes: Outcomes = { done: new Set(), failed: new Set() };
  states.forEach((state, index) => {
    if (state === 'completed') outcomes.done.add(index);
    if (state === 'failed' && !refused.has(index) && !keeper.wasRefused('apply', index)) {
      outcomes.failed.add(index);
    }
  });
  return outcomes;
}

async function reportProgress(
  job: Job,
  data: RolloutData,
  progress: RolloutProgress,
  outcomes: Outcomes,
): Promise<void> {
  progress.done = outcomes.done.size;
  progress.failed = outcomes.failed.size;
  const settled = progress.done + progress.failed + progress.cancelled.length;
  progress.percent = Math.round((100 * settled) / data.targets.length);
  await job.updateProgress(progress);
}

/** Ends the rollout `halted`: the cause (null: only removed jobs), then the databases whose job was removed. */
async function halt(
  job: Job,
  progress: RolloutProgress,
  cause: string | null,
  options: RolloutControllerOptions,
): Promise<never> {
  const removed = describeRemoved(job.data as RolloutData, removedOf(progress));
  const reason = [cause ?? '', removed].filter((sentence) => sentence !== '').join(' ');
  progress.halted = reason;
  await job.updateProgress(progress);
  options.onEvent?.({ event: 'rollout-halted', rolloutId: (job.data as RolloutData).rolloutId, reason });
  throw new UnrecoverableError(reason);
}
