import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ProgressEvent } from '../engine/types.js';
import { JOB_STEPS, type JobProgress, type JobStep, type MigrationJobResult } from '../queue/contract.js';

/**
 * Progress and job log lines reach Redis at most this often, counted from the job's start: what happened in an
 * interval goes in one write at its end, and whatever is left when the job ends. A job of 20 ms makes 2 such
 * Redis calls instead of 15; a long one still shows each step within a quarter of a second.
 */
export const PROGRESS_WRITE_INTERVAL_MS = 250;

/**
 * Turns steps into `job.updateProgress({ step, percent })` and `job.log` lines, plus a pino line each (pino
 * lines are never held back). Redis calls are not awaited one by one (they pipeline on the connection); `flush`
 * writes what is pending, waits for every write and never throws; `settle` only makes sure a failure is logged.
 */
export class ProgressReporter {
  #percent = 0;
  #step: JobStep = 'lock';
  #latest: JobProgress | undefined;
  readonly #lines: string[] = [];
  /** The job's start counts as a write: a job shorter than the interval writes once, when it ends. */
  #lastWrite = Date.now();
  #timer: NodeJS.Timeout | undefined;
  readonly #writes: Promise<unknown>[] = [];
  /** The backup this attempt wrote, once the engine says so. */
  #backupPath: string | undefined;

  /** `earlierBackups`: what earlier attempts kept, written with every progress so that it survives this attempt. */
  constructor(
    readonly job: Job,
    readonly log: Logger,
    readonly elapsed: () => number,
    readonly earlierBackups: readonly string[] = [],
  ) {}

  #progress(): JobProgress {
    // Once done, the job's return value names the backup: the progress is `{ step: 'done', percent: 100 }` as ever.
    const backupPath = this.#step === 'done' ? undefined : this.#backupPath;
    return {
      step: this.#step,
      percent: this.#percent,
      ...(backupPath ? { backupPath } : {}),
      ...(this.earlierBackups.length > 0 ? { earlierBackups: [...this.earlierBackups] } : {}),
    };
  }

  step(step: JobStep, detail?: string): void {
    const index = JOB_STEPS.indexOf(step);
    // The engine takes its SQLite lock after its preconditions: progress never goes backwards.
    this.#percent = Math.max(this.#percent, Math.round((index / (JOB_STEPS.length - 1)) * 100));
    this.#step = step;
    this.#latest = this.#progress();
    const durationMs = this.elapsed();
    this.#lines.push(`${new Date().toISOString()} ${step}${detail ? ` ${detail}` : ''} (${durationMs} ms)`);
    if (step !== 'done') this.log.info({ step, durationMs }, `step ${step}`);
    this.#schedule();
  }

  /** Keeps a failed attempt's result in the job's progress (written by the next flush): see `JobProgress.result`. */
  failedWith(result: MigrationJobResult): void {
    this.#latest = { ...this.#progress(), result };
  }

  engineEvent(event: ProgressEvent): void {
    if (event.type === 'step') this.step(event.step);
    else if (event.type === 'backup') {
      // Known before the attempt's result: should its thread die, the next attempt still finds it.
      this.#backupPath = event.path;
      this.#latest = this.#progress();
      this.#lines.push(`backup written: ${event.path} (${event.bytes} bytes, ${event.method})`);
      this.#schedule();
      this.log.info(
        {
          step: 'backup',
          backupPath: event.path,
          bytes: event.bytes,
          method: event.method,
          durationMs: this.elapsed(),
        },
        'backup written and checked',
      );
    }
  }

  /** Writes now when the interval has passed since the last write, else once it has. */
  #schedule(): void {
    const wait = this.#lastWrite + PROGRESS_WRITE_INTERVAL_MS - Date.now();
    if (wait <= 0) this.#write();
    else this.#timer ??= setTimeout(() => this.#write(), wait);
  }

  #write(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lastWrite = Date.now();
    if (this.#latest) this.#track(this.job.updateProgress(this.#latest));
    if (this.#lines.length > 0) this.#track(this.job.log(this.#lines.splice(0).join('\n')));
    this.#latest = undefined;
  }

  /**
   * Kept for `flush`, which reports a failure; handled at once, since a write may fail long before the next flush
   * (a Redis restarted empty refuses writes to the job mid-migration), and an unhandled rejection ends the process.
   */
  #track(write: Promise<unknown>): void {
    write.catch(() => {});
    this.#writes.push(write);
  }

  async flush(): Promise<void> {
    this.#write();
    const results = await Promise.allSettled(this.#writes.splice(0));
    const failed = results.find((outcome) => outcome.status === 'rejected');
    if (failed) this.log.warn({ err: failed.reason }, 'could not record job progress in Redis');
  }

  /** Like `flush`, without waiting: a failed write is still logged (once), never unhandled. */
  settle(): void {
    void this.flush();
  }
}
