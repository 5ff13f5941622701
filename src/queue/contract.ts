import { z } from 'zod';
import type { Direction, RunResult } from '../engine/types.js';

/**
 * The job contract shared by producers, workers, the dashboard and any other service that adds jobs with
 * BullMQ directly. Public: change it only in a backwards-compatible way.
 */

export { DEFAULT_QUEUE_NAME, queueNameFromEnv } from './names.js';

export const JOB_NAMES = ['migrate-up', 'migrate-down', 'verify'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export type JobOperation = Direction | 'verify';

export const OPERATION_OF_JOB: Readonly<Record<JobName, JobOperation>> = Object.freeze({
  'migrate-up': 'up',
  'migrate-down': 'down',
  verify: 'verify',
});

export const JOB_OF_OPERATION: Readonly<Record<JobOperation, JobName>> = Object.freeze({
  up: 'migrate-up',
  down: 'migrate-down',
  verify: 'verify',
});

/** Longest database path a job may carry (bytes of UTF-8 are checked by the file system itself). */
export const MAX_DB_PATH_LENGTH = 4096;

/** Job data. Unknown keys are refused so that a typo (`dbpath`) fails loudly instead of being ignored. */
export const jobDataSchema = z
  .object({
    dbPath: z
      .string()
      .min(1, 'dbPath must not be empty')
      .max(MAX_DB_PATH_LENGTH, `dbPath must be at most ${MAX_DB_PATH_LENGTH} characters`)
      .refine((value) => !value.includes('\0'), 'dbPath must not contain a NUL character'),
    migration: z
      .string()
      .regex(/^\d{3}$/, 'migration must be a three-digit id such as 006')
      .optional(),
    dryRun: z.boolean().optional(),
    /** Set by fleet rollouts; other producers leave it out. */
    rolloutId: z
      .string()
      .regex(/^[\w-]{1,64}$/, 'rolloutId must be 1-64 letters, digits, _ or -')
      .optional(),
  })
  .strict();

export type MigrationJobData = z.infer<typeof jobDataSchema>;

/** What a completed job returns: the engine's result plus where and how it ran. */
export interface MigrationJobResult extends RunResult {
  worker: { host: string; pid: number };
  /** Milliseconds spent waiting for the database's file lock. */
  lockWaitMs: number;
  /**
   * Backups that earlier attempts of this job wrote and kept before they failed and were retried (a `DB_LOCKED`
   * at commit, an `IO_ERROR` in the statements, the engine's thread dying), oldest first; `backupPath` is this
   * attempt's. Empty when the first attempt is the one reported. Each is a complete, checked backup of the database
   * as it was before that attempt.
   */
  earlierBackups: string[];
}

/** Steps reported through `job.updateProgress({ step, percent })` and `job.log`, in order. */
export const JOB_STEPS = ['lock', 'preconditions', 'backup', 'migrate', 'verify', 'commit', 'done'] as const;
export type JobStep = (typeof JOB_STEPS)[number];

export interface JobProgress {
  step: JobStep;
  percent: number;
  /**
   * Set when an attempt failed after the engine ran: that attempt's result. A failed job has no return value, and
   * its progress is what BullMQ keeps, so the backup it made (`result.backupPath`) stays known.
   */
  result?: MigrationJobResult;
  /** The backup this attempt wrote, as soon as it is written and checked (before the attempt's result is known). */
  backupPath?: string;
  /** The backups earlier attempts kept (see `MigrationJobResult.earlierBackups`), carried from attempt to attempt. */
  earlierBackups?: string[];
}
