import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { DiscardedData } from '../engine/types.js';
import { type JobOperation, jobDataSchema } from '../queue/contract.js';
import { MAX_ROLLOUT_ATTEMPTS, type MaxFailures } from './thresholds.js';

export { failureLimit, MAX_ROLLOUT_ATTEMPTS, type MaxFailures, parseMaxFailures } from './thresholds.js';

/**
 * A rollout moves one operation across many databases in stages: an optional preflight (a dry run on every
 * database; any failure stops everything), an optional canary (the first N databases; any failure stops the
 * rest), then the remainder, halted once failures pass the threshold.
 *
 * It lives in Redis as one BullMQ job (queue `<queue>-rollouts`, job id = rollout id) whose processor, the
 * rollout controller, adds the database jobs with deterministic ids (`<rolloutId>_<stage>_<index>`) to the
 * migrations queue and follows them. A controller that dies is replaced by another worker's (BullMQ's stalled
 * job recovery), which picks up where the job ids say the rollout is.
 */

export const STAGES = ['preflight', 'apply'] as const;
export type Stage = (typeof STAGES)[number];

export const maxFailuresSchema: z.ZodType<MaxFailures> = z.union([
  z.object({ count: z.number().int().min(0) }).strict(),
  z.object({ percent: z.number().min(0).max(100) }).strict(),
]);

export const rolloutDataSchema = z
  .object({
    rolloutId: z.string().regex(/^[\w-]{1,64}$/),
    op: z.enum(['up', 'down', 'verify']),
    targets: z.array(jobDataSchema.shape.dbPath).min(1),
    migration: z
      .string()
      .regex(/^\d{3}$/)
      .optional(),
    preflight: z.boolean(),
    canary: z.number().int().min(0),
    maxFailures: maxFailuresSchema.optional(),
    attempts: z.number().int().min(1).max(MAX_ROLLOUT_ATTEMPTS),
    createdAt: z.string(),
  })
  .strict();
export type RolloutData = z.infer<typeof rolloutDataSchema>;

export type DatabaseState = 'waiting' | 'active' | 'done' | 'failed' | 'cancelled' | 'not-started';
export type RolloutState = 'running' | 'completed' | 'halted' | 'waiting';

export interface RolloutDatabase {
  dbPath: string;
  state: DatabaseState;
  stage: Stage | null;
  jobId: string | null;
  backupPath: string | null;
  /** Backups that earlier attempts of its job kept before they failed and were retried, oldest first. */
  earlierBackups: string[];
  durationMs: number | null;
  error: string | null;
  /** What its `down` dropped (only its rollback backup keeps it); empty unless its apply job dropped something. */
  discarded: DiscardedData[];
  /**
   * What its `down` would drop, as its preflight's dry run found: while the database's job is that dry run (its
   * apply job not added yet, or the preflight halted the rollout). Empty otherwise, and for `up` and `verify`.
   */
  wouldDiscard: DiscardedData[];
}

export interface RolloutReport {
  rolloutId: string;
  op: JobOperation;
  state: RolloutState;
  /** Why the rollout halted, in one sentence; null unless halted. */
  reason: string | null;
  stage: Stage | null;
  databases: RolloutDatabase[];
  counts: Record<DatabaseState, number> & { total: number };
}

/**
 * A part of a rollout whose database jobs the controller adds at once: the preflight, the canary, then the rest
 * (both apply stages).
 */
export type Step = 'preflight' | 'canary' | 'rest';

/** What the controller keeps in the rollout job's progress, so that a successor and `status` can read it. */
export interface RolloutProgress {
  stage: Stage | null;
  cancelled: number[];
  /**
   * Databases whose job vanished from the queue (removed by hand, with bull-board or the BullMQ API) before the
   * controller saw it finish; each is in `cancelled` too. Absent in rollouts started before it existed.
   */
  removed?: number[];
  /** The steps whose jobs were added: a successor adds none of them again, so a removed job stays removed. */
  queued?: Step[];
  halted: string | null;
  done: number;
  failed: number;
  total: number;
  percent: number;
}

export function rolloutsQueueName(queueName: string): string {
  return `${queueName}-rollouts`;
}

export function childJobId(rolloutId: string, stage: Stage, index: number): string {
  return `${rolloutId}_${stage}_${index}`;
}

/** `rollout-20261124T101500-3fa9c1`: sortable, unique, safe as a BullMQ job id. */
export function newRolloutId(at = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `rollout-${stamp}-${randomBytes(3).toString('hex')}`;
}

export function emptyCounts(total: number): RolloutReport['counts'] {
  return { total, waiting: 0, active: 0, done: 0, failed: 0, cancelled: 0, 'not-started': 0 };
}
