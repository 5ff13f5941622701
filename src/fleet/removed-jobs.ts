import type { RolloutData, RolloutProgress, Step } from './rollout.js';

/**
 * What a rollout's progress says of cancelled databases and of jobs removed by hand (bull-board's remove button,
 * the BullMQ API). A removed job is never added again: removing it is how a user may skip a database, so the
 * controller cancels that database, goes on with the others, and ends the rollout `halted` with a reason naming it
 * rather than `completed`, which would say it was migrated.
 */

export function markCancelled(progress: RolloutProgress, index: number): void {
  if (!progress.cancelled.includes(index)) progress.cancelled.push(index);
}

/** A database whose job vanished after it was added, before the controller saw it finish. */
export function markRemoved(progress: RolloutProgress, index: number): void {
  markCancelled(progress, index);
  const removed = removedOf(progress);
  if (!removed.includes(index)) progress.removed = [...removed, index];
}

/** Rollouts started before these fields existed have neither. */
export const removedOf = (progress: RolloutProgress): number[] => progress.removed ?? [];
export const queuedOf = (progress: RolloutProgress): Step[] => progress.queued ?? [];

/** Databases named in a halt reason; the others are counted (`status` lists each one). */
const NAMED_IN_REASON = 10;

/** The sentence a halt reason ends with when jobs were removed; empty when none was. */
export function describeRemoved(data: RolloutData, removed: readonly number[]): string {
  if (removed.length === 0) return '';
  const names = removed.slice(0, NAMED_IN_REASON).map((index) => data.targets[index]);
  const more = removed.length > NAMED_IN_REASON ? ` and ${removed.length - NAMED_IN_REASON} more` : '';
  const jobs =
    removed.length === 1 ? 'The job of 1 database was' : `The jobs of ${removed.length} databases were`;
  const them = removed.length === 1 ? 'it' : 'them';
  // A job removed after it finished looks the same as one removed before it ran: say what is known, no more.
  return `${jobs} removed from the queue before the rollout saw ${them} finish, so ${removed.length === 1 ? 'it counts' : 'they count'} as cancelled and may not be migrated: ${names.join(', ')}${more}. Check with gao-migrate verify, or start a new rollout for ${them}.`;
}
