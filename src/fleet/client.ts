import { setTimeout as sleep } from 'node:timers/promises';
import { type ConnectionOptions, type Job, Queue } from 'bullmq';
import { uniqueDatabases } from '../producer/database-key.js';
import { closeQueue } from '../queue/close-queue.js';
import { printable } from '../queue/printable.js';
import {
  forgetRolloutFailures,
  openRolloutGate,
  removeRolloutGate,
  rolloutGateKey,
  wasRefusedByGate,
} from '../queue/rollout-gate.js';
import { failedReasons } from './job-states.js';
import { removedOf } from './removed-jobs.js';
import { fetchChildren, readRolloutReport } from './report.js';
import {
  cancelledByHalt,
  type ResumableHalt,
  requeueCancelled,
  resumableHaltOf,
} from './resume-after-halt.js';
import { ROLLOUT_JOB_RETENTION, type RolloutRetention } from './retention.js';
import {
  failureLimit,
  type MaxFailures,
  newRolloutId,
  type RolloutData,
  type RolloutProgress,
  type RolloutReport,
  rolloutDataSchema,
  rolloutsQueueName,
} from './rollout.js';

export interface StartRolloutInput {
  op: RolloutData['op'];
  /** Database paths; made absolute against the current directory. */
  targets: string[];
  migration?: string;
  /** Dry run on every database first; any failure stops the rollout before anything is written. */
  preflight?: boolean;
  /** Migrate this many databases first, and go on only if all of them succeed. Default: 0. */
  canary?: number;
  /** Failures allowed before the rest is cancelled. Default: no limit. */
  maxFailures?: MaxFailures;
  /** Attempts per database job for retryable failures. Default: 5. */
  attempts?: number;
}

/** What `retryFailed` did. */
export interface RetryOutcome {
  /** Failed database jobs put back on the queue. */
  retried: number;
  /**
   * The rollout was halted by its preflight, its canary or its failure threshold and goes on again: its controller
   * waits for the retried dry runs (or canary databases) and, once every one of them passes, goes on as the rollout
   * was started to; after the threshold, it goes on with the databases the halt had cancelled.
   */
  resumed: boolean;
  /** What had halted the rollout it resumed; null when it was not resumed. */
  haltedBy: ResumableHalt | null;
  /** Databases the threshold's halt had cancelled, put back on the queue (0 unless `haltedBy` is `max-failures`). */
  requeued: number;
}

/**
 * A rollout that is not (or no longer) in the rollouts queue: never started there, removed by hand, or removed by
 * its retention once it ended (retention.ts). Its message is one sentence.
 */
export class RolloutNotFoundError extends Error {
  readonly code = 'ROLLOUT_NOT_FOUND';
  constructor(message: string) {
    super(message);
    this.name = 'RolloutNotFoundError';
  }
}

/** A rollout `start` refuses before anything is added (bad options): its message is one sentence. */
export class InvalidRolloutError extends TypeError {
  readonly code = 'INVALID_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRolloutError';
  }
}

/**
 * Starts, reads and retries fleet rollouts. Rollouts run in whichever `gao-migrate worker` picks them up;
 * this client only writes and reads Redis.
 *
 * @example
 * const fleet = createFleetClient({ connection, queueName: 'migrations' });
 * const id = await fleet.start({ op: 'up', targets, canary: 2, maxFailures: { percent: 10 } });
 * const report = await fleet.wait(id, { onUpdate: (r) => console.log(r.counts) });
 */
/** Longest wait, at close, for a queue's connection still starting (see `closeQueue`). */
const CLOSE_WAIT_MS = 5_000;

export function createFleetClient(options: {
  connection: ConnectionOptions;
  queueName: string;
  /**
   * How long, and how many, ended rollout jobs are kept (BullMQ's `removeOnComplete` and `removeOnFail` of the
   * rollouts this client starts). Default: `ROLLOUT_JOB_RETENTION`, 30 days and the latest 1,000 of each outcome.
   */
  retention?: RolloutRetention;
  /**
   * Only reads (`gao-migrate status`): the queues' meta keys are not written, so that a queue name given by mistake
   * leaves nothing in Redis. Default: false (BullMQ writes them, as for any queue jobs are added to).
   */
  readOnly?: boolean;
}) {
  const retention = options.retention ?? ROLLOUT_JOB_RETENTION;
  const queueOptions = { connection: options.connection, skipMetasUpdate: options.readOnly === true };
  const rollouts = new Queue<RolloutData>(rolloutsQueueName(options.queueName), queueOptions);
  const migrations = new Queue(options.queueName, queueOptions);

  async function start(input: StartRolloutInput): Promise<string> {
    if (input.op === 'verify' && input.preflight) {
      throw new InvalidRolloutError(
        'preflight applies to up and down: verify writes nothing already; no rollout was started.',
      );
    }
    const rolloutId = newRolloutId();
    const targets = uniqueDatabases(input.targets);
    const parsed = rolloutDataSchema.safeParse({
      rolloutId,
      op: input.op,
      targets,
      ...(input.migration ? { migration: input.migration } : {}),
      preflight: input.preflight === true,
      canary: Math.min(input.canary ?? 0, targets.length),
      ...(input.maxFailures ? { maxFailures: input.maxFailures } : {}),
      attempts: input.attempts ?? 5,
      createdAt: new Date().toISOString(),
    });
    if (!parsed.success) {
      const problems = parsed.error.issues
        .map((issue) => `${issue.path.join('.') || 'rollout'}: ${issue.message}`)
        .join('; ');
      throw new InvalidRolloutError(`Invalid rollout options (${problems}); no rollout was started.`);
    }
    const data = parsed.data;
    // A controller that dies mid-rollout is replaced: the job stalls and BullMQ hands it to another worker.
    // Kept for a bounded time once it ended (retention.ts): its report, and `retry --failed` on it, until then.
    await rollouts.add('rollout', data, {
      jobId: rolloutId,
      attempts: 1,
      removeOnComplete: { ...retention.removeOnComplete },
      removeOnFail: { ...retention.removeOnFail },
    });
    return rolloutId;
  }

  function report(rolloutId: string): Promise<RolloutReport | null> {
    return readRolloutReport(rollouts, migrations, rolloutId);
  }

  /**
   * Re-enqueues the failed database jobs of a rollout, each with its full attempts again. A rollout its preflight,
   * its canary or its failure threshold halted goes on from there (see `RetryOutcome.resumed`; after the threshold
   * with the databases the halt cancelled); one halted only because jobs were removed by hand stays halted.
   */
  async function retryFailed(rolloutId: string): Promise<RetryOutcome> {
    const job = await rollouts.getJob(rolloutId);
    if (!job) return { retried: 0, resumed: false, haltedBy: null, requeued: 0 };
    const failed: { stage: 'apply' | 'preflight'; child: Job }[] = [];
    const refused: number[] = [];
    for (const stage of ['apply', 'preflight'] as const) {
      if (stage === 'preflight' && !job.data.preflight) continue;
      const children = await fetchChildren(migrations, rolloutId, stage, job.data.targets.length);
      const inFailed: { index: number; child: Job }[] = [];
      for (const [index, child] of children.entries()) {
        if (child && (await child.getState()) === 'failed') inFailed.push({ index, child });
      }
      // Read after the state: a job fetched just before it failed carries no failedReason yet.
      const reasons = await failedReasons(
        migrations,
        inFailed.map(({ child }) => String(child.id)),
      );
      inFailed.forEach(({ index, child }, position) => {
        // One the gate refused never started: it is cancelled, as a removed job is, and not retried either.
        if (!wasRefusedByGate(reasons[position])) failed.push({ stage, child });
        else if (stage === 'apply') refused.push(index);
      });
    }
    const running = await isRolloutRunning(job);
    const progress = (typeof job.progress === 'object' ? job.progress : {}) as RolloutProgress;
    const apply = { failed: failed.filter(({ stage }) => stage === 'apply').length, refused };
    // Read before the failed jobs go back on the queue: the threshold's halt is told by the failures it counted.
    const haltedBy =
      !running && (await job.getState()) === 'failed' ? resumableHaltOf(job.data, progress, apply) : null;
    // Retrying is the decision to go on whatever --max-failures said: the workers must not refuse these jobs.
    // While the rollout runs, its gate still guards the jobs not started yet: it forgets only the retried failures.
    const gate = rolloutGateKey(migrations, rolloutId);
    const client = await migrations.client;
    if (running) {
      const applyJobIds = failed.flatMap(({ stage, child }) => (stage === 'apply' ? [String(child.id)] : []));
      await forgetRolloutFailures(client, gate, applyJobIds);
    } else await removeRolloutGate(client, gate);
    if (haltedBy === 'max-failures') {
      // The rollout goes on under its threshold, counted afresh: failures from now on close the gate again.
      const limit = failureLimit(job.data.maxFailures, job.data.targets.length);
      await openRolloutGate(client, gate, limit);
    }
    for (const { child } of failed) {
      // A fresh set of attempts, with their backoff: without the resets the job would be failed again after one
      // attempt, its attemptsMade already at the limit.
      await child.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    }
    const retried = failed.length;
    if (!haltedBy) return { retried, resumed: false, haltedBy: null, requeued: 0 };
    const requeued =
      haltedBy === 'max-failures'
        ? await requeueCancelled(migrations, job.data, cancelledByHalt(progress, refused))
        : 0;
    // After the failed jobs are back on the queue: a controller resuming earlier would find them failed and halt
    // again.
    await resumeAfterHalt(job, progress, haltedBy);
    return { retried, resumed: true, haltedBy, requeued };
  }

  /**
   * Puts a halted rollout back in the rollouts queue. Its preflight, canary and threshold only guard the rollout
   * that was asked for: once the retried dry runs (or databases) pass, that rollout goes on. Without this, they
   * would pass and lead nowhere, under the old halt reason. The databases the halt cancelled are no longer
   * cancelled (after a canary none had a job; after the threshold their jobs are back on the queue); a database
   * whose job was removed by hand stays cancelled. A preflight cancels nothing but those.
   */
  async function resumeAfterHalt(
    job: Job<RolloutData>,
    progress: RolloutProgress,
    haltedBy: ResumableHalt,
  ): Promise<void> {
    const cancelled = haltedBy === 'preflight' ? progress.cancelled : removedOf(progress);
    await job.updateProgress({ ...progress, halted: null, cancelled });
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  }

  /** Polls until the rollout is over (completed or halted, nothing in flight). */
  async function wait(
    rolloutId: string,
    waitOptions: {
      pollMs?: number;
      onUpdate?: (report: RolloutReport) => void;
      /** Stops waiting (rejects with an AbortError); the rollout goes on. Rejects with `RolloutNotFoundError` if it leaves the queue. */
      signal?: AbortSignal;
    } = {},
  ): Promise<RolloutReport> {
    for (;;) {
      waitOptions.signal?.throwIfAborted();
      const current = await report(rolloutId);
      if (!current) {
        throw new RolloutNotFoundError(
          `Rollout ${printable(rolloutId.slice(0, 80))} left the queue while it was followed (removed by hand, or by its retention once it ended); what its database jobs did stays done: check the databases with gao-migrate verify.`,
        );
      }
      waitOptions.onUpdate?.(current);
      if (current.state === 'completed' || current.state === 'halted') return current;
      await sleep(waitOptions.pollMs ?? 300, undefined, { signal: waitOptions.signal });
    }
  }

  /** Workers connected to take rollouts (every `gao-migrate worker` runs a rollout controller). */
  function workerCount(): Promise<number> {
    return rollouts.getWorkersCount();
  }

  /** Ids of the most recent rollouts, newest first. */
  async function list(limit = 20): Promise<string[]> {
    const jobs = await rollouts.getJobs(
      ['active', 'waiting', 'completed', 'failed', 'delayed'],
      0,
      limit * 4,
    );
    return jobs
      .filter((job) => job?.id)
      .sort((a, b) => b.timestamp - a.timestamp)
      .slice(0, limit)
      .map((job) => job.id as string);
  }

  async function close(): Promise<void> {
    await Promise.all([closeQueue(rollouts, CLOSE_WAIT_MS), closeQueue(migrations, CLOSE_WAIT_MS)]);
  }

  return { start, report, retryFailed, wait, workerCount, list, close };
}

export type FleetClient = ReturnType<typeof createFleetClient>;

/** Whether a controller drives the rollout now, or will (its job is waiting for a worker). */
async function isRolloutRunning(job: Job<RolloutData>): Promise<boolean> {
  return ['active', 'waiting', 'delayed', 'prioritized'].includes(await job.getState());
}
