/**
 * How long a rollout's bookkeeping stays in Redis. Without a bound, every rollout ever started would stay: its job
 * in the rollouts queue and the hash of its kept outcomes (kept-outcomes.ts).
 *
 * A rollout job that ended is removed by BullMQ once it is older than `ROLLOUT_KEEP_DAYS` (counted from its end), or
 * once `ROLLOUT_KEEP_COUNT` newer ones ended the same way (completed, or halted). BullMQ applies both when a rollout
 * job ends, so an old one goes when the next one ends, not on the day. Its kept outcomes expire a day after that
 * age, counted from the controller's last write or look, refreshed while a controller drives the rollout; its gate
 * expires as failed jobs do (30 days, src/queue/rollout-gate.ts). A halted rollout can be resumed (`retry --failed`)
 * as long as its job is kept.
 */

/** Days an ended rollout's job is kept (its report, and `retry --failed` on it). */
export const ROLLOUT_KEEP_DAYS = 30;

/** Ended rollout jobs kept of each outcome (completed; halted), newest first. */
export const ROLLOUT_KEEP_COUNT = 1_000;

const DAY_SECONDS = 24 * 3600;

/** How many ended rollout jobs BullMQ keeps of one outcome, and for how long (seconds). */
export interface KeepRollouts {
  age: number;
  count: number;
}

/** BullMQ's `removeOnComplete` (completed rollouts) and `removeOnFail` (halted ones) of a rollout job. */
export interface RolloutRetention {
  removeOnComplete: KeepRollouts;
  removeOnFail: KeepRollouts;
}

/** The default retention of rollout jobs: `ROLLOUT_KEEP_DAYS` days, the latest `ROLLOUT_KEEP_COUNT` of each outcome. */
export const ROLLOUT_JOB_RETENTION: Readonly<RolloutRetention> = Object.freeze({
  removeOnComplete: { age: ROLLOUT_KEEP_DAYS * DAY_SECONDS, count: ROLLOUT_KEEP_COUNT },
  removeOnFail: { age: ROLLOUT_KEEP_DAYS * DAY_SECONDS, count: ROLLOUT_KEEP_COUNT },
});

/** Time to live of a rollout's kept outcomes: a day longer than its job is kept, so a kept job never lacks them. */
export const KEPT_OUTCOMES_TTL_SECONDS = (ROLLOUT_KEEP_DAYS + 1) * DAY_SECONDS;

/**
 * How often a controller driving a rollout refreshes its kept outcomes' expiry when it writes none, in ms
 * (`startRolloutController({ keptOutcomesRefreshMs })` sets another).
 */
export const KEPT_OUTCOMES_REFRESH_MS = 3600 * 1000;
