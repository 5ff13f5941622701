import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import { notRegularFileProblem } from '../engine/file-kind.js';
import type { Operation, RunResult } from '../engine/types.js';
import {
  JOB_NAMES,
  type JobName,
  type JobProgress,
  jobDataSchema,
  type MigrationJobData,
  type MigrationJobResult,
  OPERATION_OF_JOB,
} from '../queue/contract.js';
import { changeFollowedBy, DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_DELAY_MS } from '../queue/job-options.js';
import { backupsOfEarlierAttempts } from '../queue/job-result.js';
import { isRetryableCode } from '../queue/retryable.js';
import { RefusedPathError, resolveAllowedPath } from './allowed-roots.js';
import { DEFAULT_FILE_LOCK_TIMEOUT_MS } from './defaults.js';
import type { EngineRunner } from './engine-runner.js';
import {
  acquireFileLock,
  directoryIsWritable,
  FileLockError,
  FileLockHeldError,
  type FileLockOptions,
  type HeldFileLock,
  lockPathOf,
} from './file-lock.js';
import { type JobOrderAccess, waitForEarlierJobs } from './job-order.js';
import { ProgressReporter } from './progress-reporter.js';
import { createRolloutGatekeeper, type RolloutGateAccess } from './rollout-gatekeeper.js';

export interface ProcessorOptions {
  /** Real paths of the allowed roots (see `resolveRoots`). */
  roots: readonly string[];
  engine: EngineRunner;
  logger: Logger;
  fileLock?: FileLockOptions;
  /**
   * Attempts given to retryable failures of jobs that were added without `attempts` (other services using
   * BullMQ directly). Default: 5, with the producer's exponential backoff.
   */
  defaultAttempts?: number;
  /** Resolves relative job paths. Default: `process.cwd()`. */
  cwd?: string;
  /**
   * Where rollouts' failure gates live (see src/queue/rollout-gate.ts). Without it, rollout jobs are not gated:
   * only the controller's poll cancels what has not started.
   */
  rolloutGate?: RolloutGateAccess;
  /**
   * The queue's active and waiting jobs (see src/worker/job-order.ts). With it, a job waits (up to the file lock's
   * timeout) while a job on the same database queued before it is still active or back in the queue, so jobs on
   * one database run in the order they were queued. Without it, only `<db>.lock` orders them.
   */
  jobOrder?: JobOrderAccess;
}

export interface MigrationProcessor {
  (job: Job, token?: string): Promise<MigrationJobResult>;
  /**
   * Resolves once no job holds its file lock or runs the engine: what a worker must let end before it stops, and
   * all that needs no Redis.
   */
  whenIdle(): Promise<void>;
}

/**
 * The BullMQ processor: validate, check the roots, take `<db>.lock`, run the engine off the event loop, and map
 * the result to a return value (`MigrationJobResult`), a retryable `Error` or an `UnrecoverableError`.
 */
export function createMigrationProcessor(options: ProcessorOptions): MigrationProcessor {
  const host = os.hostname();
  const localWork = new LocalWork();
  const defaultAttempts = options.defaultAttempts ?? DEFAULT_ATTEMPTS;

  const throughGate = createRolloutGatekeeper(options.rolloutGate, options.logger);

  async function processMigrationJob(job: Job, token?: string): Promise<MigrationJobResult> {
    // A retried job still carries its last attempt's result in its progress: an attempt that fails before the
    // engine runs (the database gone, the gate closed) must not be reported with that attempt's backup. The
    // backups earlier attempts kept stay named (`earlierBackups`), in every progress this attempt writes.
    const earlierBackups = backupsOfEarlierAttempts(job.progress);
    const previous = job.progress as Partial<JobProgress> | undefined;
    if (previous?.result || previous?.backupPath || earlierBackups.length > 0) {
      await job.updateProgress({
        step: 'lock',
        percent: 0,
        ...(earlierBackups.length > 0 ? { earlierBackups } : {}),
      } satisfies JobProgress);
    }
    return throughGate(job, () => runMigrationJob(job, earlierBackups, token));
  }

  async function runMigrationJob(
    job: Job,
    earlierBackups: string[],
    token?: string,
  ): Promise<MigrationJobResult> {
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 100) / 100;
    const name = job.name;
    if (!isJobName(name)) {
      options.logger.warn({ jobId: job.id, jobName: name }, 'unknown job name');
      throw new UnrecoverableError(
        `UNKNOWN_JOB_NAME: Unknown job name "${String(name).slice(0, 60)}"; expected one of ${JOB_NAMES.join(', ')}.`,
      );
    }
    const parsed = jobDataSchema.safeParse(job.data);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'data'}: ${issue.message}`)
        .join('; ');
      options.logger.warn({ jobId: job.id, problems }, 'invalid job data');
      throw new UnrecoverableError(`INVALID_JOB_DATA: Invalid job data: ${problems}.`);
    }
    const data = parsed.data;
    const op = OPERATION_OF_JOB[name];
    let log = options.logger.child({ jobId: job.id, db: data.dbPath, op });

    let dbPath: string;
    try {
      dbPath = resolveAllowedPath(data.dbPath, options.roots, options.cwd);
    } catch (error) {
      if (!(error instanceof RefusedPathError)) throw error;
      log.warn({ step: 'refused', code: error.code, durationMs: elapsed() }, error.message);
      throw new UnrecoverableError(`${error.code}: ${error.message}`);
    }
    if (dbPath !== data.dbPath) log = log.child({ realPath: dbPath });
    // Said before the lock is taken beside it: no retry makes a pipe, a device or a directory a database.
    const notAFile = notRegularFileProblem(dbPath);
    if (notAFile) {
      log.warn({ step: 'refused', code: notAFile.code, durationMs: elapsed() }, notAFile.message);
      throw new UnrecoverableError(`${notAFile.code}: ${notAFile.message}`);
    }

    const progress = new ProgressReporter(job, log, elapsed, earlierBackups);
    if (options.jobOrder && job.id !== undefined) {
      const timeoutMs = options.fileLock?.timeoutMs ?? DEFAULT_FILE_LOCK_TIMEOUT_MS;
      const earlier = await waitForEarlierJobs(
        options.jobOrder,
        { id: job.id, timestamp: job.timestamp, follows: changeFollowedBy(job.deduplicationId) },
        dbPath,
        timeoutMs,
      );
      if (earlier?.deferUntil !== undefined && token) {
        await progress.flush();
        return stepAside(job, token, earlier.deferUntil, earlier, dbPath, log, elapsed());
      }
      if (earlier !== null) {
        await progress.flush();
        const message = `FILE_LOCK_HELD: Job ${earlier.id} on ${dbPath}, queued before this one, has not finished yet (waited ${timeoutMs} ms); nothing was changed.`;
        return retryLater(job, token, message, log, elapsed());
      }
    }
    let local: Awaited<ReturnType<typeof runUnderLock>>;
    try {
      local = await localWork.track(runUnderLock(op, dbPath, data, progress, log, elapsed));
    } catch (error) {
      await progress.flush();
      if (!(error instanceof FileLockError || error instanceof RefusedPathError)) throw error;
      log.error({ step: 'failed', code: error.code, durationMs: elapsed() }, error.message);
      throw new UnrecoverableError(`${error.code}: ${error.message}`);
    }
    if (local.retry !== undefined) {
      await progress.flush();
      return retryLater(job, token, local.retry, log, elapsed());
    }
    const { result, lockWaitMs } = local;

    const summary = {
      status: result.status,
      backupPath: result.backupPath,
      ...(earlierBackups.length > 0 ? { earlierBackups } : {}),
      engineMs: result.durationMs,
    };
    if (result.ok) {
      progress.step('done');
      // Not awaited: the writes are already on the worker's Redis connection, ahead of BullMQ's moveToCompleted,
      // so Redis applies them first; waiting for their replies would only add a round trip to every job.
      progress.settle();
      log.info({ step: 'done', ...summary, durationMs: elapsed() }, `${op}: ${result.status}`);
      return { ...result, worker: { host, pid: process.pid }, lockWaitMs, earlierBackups };
    }
    progress.failedWith({ ...result, worker: { host, pid: process.pid }, lockWaitMs, earlierBackups });
    await progress.flush();
    const code = result.error?.code ?? 'MIGRATION_FAILED';
    const message = `${code}: ${result.error?.message ?? 'the migration failed'}`;
    // Worth another attempt later (isRetryableCode); everything else fails the job for good.
    if (isRetryableCode(code)) return retryLater(job, token, message, log, elapsed());
    log.error({ step: 'failed', ...summary, code, durationMs: elapsed() }, message);
    throw new UnrecoverableError(message);
  }

  /**
   * The part of a job that touches the database: take `<db>.lock`, run the engine, release the lock. No Redis
   * call happens in it, so it ends even while Redis is away. `retry` says why another attempt should follow.
   */
  async function runUnderLock(
    op: Operation,
    dbPath: string,
    data: MigrationJobData,
    progress: ProgressReporter,
    log: Logger,
    elapsed: () => number,
  ): Promise<{ result: RunResult; lockWaitMs: number; retry?: undefined } | { retry: string }> {
    progress.step('lock');
    const lock = await takeLock(dbPath, log, elapsed);
    if ('retry' in lock) return lock;
    try {
      // The wait may have been long: a directory on the path swapped for a symlink meanwhile would lead the
      // engine, which opens the path by name, elsewhere. The lock only guards the real path it was taken for.
      assertStillResolvesTo(data.dbPath, dbPath);
      const result = await options.engine.run(
        op,
        { dbPath, migration: data.migration, dryRun: data.dryRun === true },
        (event) => progress.engineEvent(event),
      );
      return { result, lockWaitMs: lock.waitMs };
    } catch (error) {
      if (error instanceof RefusedPathError) throw error;
      // The thread died: SQLite rolls back whatever it left, and the engine is idempotent.
      return {
        retry: `ENGINE_THREAD_FAILED: ${(error as Error).message} SQLite rolls back what the run left unfinished.`,
      };
    } finally {
      // Released before the job is reported done: whoever sees it done finds the database free.
      await releaseLock(lock, log, elapsed);
    }
  }

  /**
   * `<db>.lock`, or why to retry later. In a directory that cannot be written, no lock is made and none is needed:
   * nothing can be written there, so the engine only reads (a verify, or an up or down with nothing to do, answers
   * as anywhere else; it refuses a change with DB_READONLY itself).
   */
  async function takeLock(
    dbPath: string,
    log: Logger,
    elapsed: () => number,
  ): Promise<HeldFileLock | { retry: string }> {
    try {
      const lock = await acquireFileLock(dbPath, {
        ...options.fileLock,
        onCompromised: (error) => log.error({ step: 'lock', err: error }, 'file lock lost while the job ran'),
      });
      log.info({ step: 'lock', lockWaitMs: lock.waitMs, durationMs: elapsed() }, 'file lock acquired');
      return lock;
    } catch (error) {
      if (error instanceof FileLockHeldError) return { retry: `${error.code}: ${error.message}` };
      if (error instanceof FileLockError && error.code === 'DB_READONLY' && !directoryIsWritable(dbPath)) {
        log.info(
          { step: 'lock', durationMs: elapsed() },
          'read-only directory: no file lock; the engine only reads',
        );
        return { waitMs: 0, release: async () => {} };
      }
      if (error instanceof FileLockError) throw error;
      // Anything else (EIO, ENOSPC, ...) may pass: retried, with a code like every other failure.
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      return {
        retry: `IO_ERROR: Cannot take the file lock ${lockPathOf(dbPath)} (${code}); nothing was changed.`,
      };
    }
  }

  /** Refuses (PATH_NOT_ALLOWED) a path whose real path is no longer the one checked and locked, or is outside. */
  function assertStillResolvesTo(requested: string, locked: string): void {
    let now: string;
    try {
      now = resolveAllowedPath(requested, options.roots, options.cwd);
    } catch (error) {
      if (!(error instanceof RefusedPathError)) throw error;
      throw new RefusedPathError(
        `${error.message.replace(/\.$/, '')}; it changed while the job waited for its file lock, and nothing was changed.`,
        error.code,
      );
    }
    if (now !== locked) {
      throw new RefusedPathError(
        `Database ${requested} now resolves to ${now}, not to ${locked}, which was checked and locked: it changed while the job waited for its file lock; nothing was changed.`,
      );
    }
  }

  return Object.assign(processMigrationJob, { whenIdle: () => localWork.idle() });

  /**
   * A failure another attempt can fix. With `attempts` set on the job, BullMQ retries with its backoff; a job
   * added without them is delayed by hand, up to `defaultAttempts` starts.
   */
  async function retryLater(
    job: Job,
    token: string | undefined,
    message: string,
    log: Logger,
    durationMs: number,
  ): Promise<never> {
    const started = job.attemptsStarted ?? 1;
    const attempt = Math.max(started, job.attemptsMade + 1);
    log.warn({ step: 'retry', attempt, durationMs }, message);
    // Only when the job says nothing about attempts (BullMQ stores 0): `attempts: 1` on purpose means no retry.
    if (!job.opts.attempts && started < defaultAttempts && token) {
      await job.moveToDelayed(Date.now() + DEFAULT_BACKOFF_DELAY_MS * 2 ** (started - 1), token);
      throw new DelayedError(message);
    }
    // BullMQ retries while attemptsMade + 1 < attempts; the job's last reason says that it was retried, and for how
    // long, where a job that may not be retried needs no such word.
    const attempts = job.opts.attempts || (token ? defaultAttempts : 1);
    const last = job.opts.attempts ? job.attemptsMade + 1 >= job.opts.attempts : true;
    if (last && attempts > 1) {
      const seconds = Math.max(0, Math.round((Date.now() - job.timestamp) / 1000));
      throw new Error(
        `${message} That was attempt ${attempt} of ${attempts}, ${seconds} s after the job was queued: no retry is left.`,
      );
    }
    throw new Error(message);
  }
}

/**
 * Puts the job back, delayed until `until`, without counting an attempt: the change queued before it on the same
 * database has not run yet and waits for a retry or for a worker, which this one would hold if it waited here.
 */
async function stepAside(
  job: Job,
  token: string,
  until: number,
  earlier: { id: string; state?: string },
  dbPath: string,
  log: Logger,
  durationMs: number,
): Promise<never> {
  const message = `Job ${earlier.id} on ${dbPath}, queued before this one, has not run yet (${earlier.state}); this job runs after it and looks again at ${new Date(until).toISOString()}. Nothing was changed.`;
  log.info({ step: 'wait', earlierJobId: earlier.id, until, durationMs }, message);
  await job.log(`${new Date().toISOString()} wait ${message}`).catch(() => {});
  await job.moveToDelayed(until, token);
  throw new DelayedError(message);
}

/** Logged before the release, so the interval between the two lock lines lies wholly inside the hold. */
function releaseLock(lock: HeldFileLock, log: Logger, elapsed: () => number): Promise<void> {
  log.info({ step: 'unlock', durationMs: elapsed() }, 'releasing the file lock');
  return lock.release();
}

function isJobName(name: string): name is JobName {
  return (JOB_NAMES as readonly string[]).includes(name);
}

/** The jobs between taking their file lock and releasing it; `idle()` resolves when there are none. */
class LocalWork {
  private readonly running = new Set<Promise<unknown>>();

  track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    const forget = () => this.running.delete(work);
    work.then(forget, forget);
    return work;
  }

  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
