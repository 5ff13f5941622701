import type { RedisClient } from 'bullmq';

/**
 * A rollout's failure gate: a Redis hash with how many of its database jobs may fail (`limit`) and how many have
 * failed for good (`failed`), and a field `job:<jobId>` for each job counted in `failed`. The controller opens it
 * before an apply stage; a worker counts a rollout job's final failure into it, and looks at it before it starts
 * one of the rollout's jobs. The controller's poll alone would let jobs start between a failure and its next look;
 * with the gate, none starts once failures passed the limit.
 *
 * A job is counted once: a worker counts its final failure before BullMQ records it, so a worker killed in between
 * leaves the job to stall and fail again in another worker, which must not count that database twice.
 */

/** The failedReason code of a job the gate refused: it counts as cancelled, not failed. */
export const ROLLOUT_HALTED = 'ROLLOUT_HALTED';

/** Kept as long as failed jobs are (see `defaultJobOptions`), then Redis drops it. */
const GATE_TTL_SECONDS = 30 * 24 * 3600;

/** The gate's key in the migrations queue's namespace: `<prefix>:<queue>:rollout-gate:<rolloutId>`. */
export function rolloutGateKey(queue: { toKey(type: string): string }, rolloutId: string): string {
  // Job ids cannot contain ":", so this never collides with a job's key.
  return queue.toKey(`rollout-gate:${rolloutId}`);
}

/** Opens (or moves) the gate: at most `limit` failures; a count already made (a controller taking over) stays. */
export async function openRolloutGate(client: RedisClient, key: string, limit: number): Promise<void> {
  await client
    .multi()
    .hset(key, { limit })
    .runCommand('hsetnx', [key, 'failed', '0'])
    .runCommand('expire', [key, GATE_TTL_SECONDS])
    .exec()
    .then((replies) => {
      const refused = replies?.find(([error]) => error);
      if (refused) throw refused[0];
    });
}

/**
 * Counts the final failure of job `jobId`, if the rollout has a gate (a rollout without `--max-failures` has none)
 * and that job's failure is not counted already.
 */
export async function countRolloutFailure(client: RedisClient, key: string, jobId: string): Promise<void> {
  await client.runCommand('eval', [
    "if redis.call('exists', KEYS[1]) == 1 and redis.call('hsetnx', KEYS[1], 'job:' .. ARGV[1], 1) == 1 then return redis.call('hincrby', KEYS[1], 'failed', 1) end return 0",
    1,
    key,
    jobId,
  ]);
}

/**
 * Takes back the counted failures of these jobs (those counted; never below none): they were retried while the
 * rollout runs, and each counts again if it fails again.
 */
export async function forgetRolloutFailures(
  client: RedisClient,
  key: string,
  jobIds: readonly string[],
): Promise<void> {
  if (jobIds.length === 0) return;
  await client.runCommand('eval', [
    "if redis.call('exists', KEYS[1]) == 0 then return 0 end local forgotten = 0 for _, id in ipairs(ARGV) do forgotten = forgotten + redis.call('hdel', KEYS[1], 'job:' .. id) end if forgotten > 0 and redis.call('hincrby', KEYS[1], 'failed', -forgotten) < 0 then redis.call('hset', KEYS[1], 'failed', 0) end return forgotten",
    1,
    key,
    ...jobIds,
  ]);
}

/** True once more jobs failed than the gate allows; false when there is no gate. */
export async function isRolloutGateClosed(client: RedisClient, key: string): Promise<boolean> {
  const [limit, failed] = await client.hmget(key, 'limit', 'failed');
  return limit != null && failed != null && Number(failed) > Number(limit);
}

/** Removes the gate: `retry --failed` is the user's decision to go on whatever the threshold said. */
export async function removeRolloutGate(client: RedisClient, key: string): Promise<void> {
  await client.del(key);
}

/** Whether a failed job's reason says the gate refused it. */
export function wasRefusedByGate(failedReason: string | null | undefined): boolean {
  return (failedReason ?? '').startsWith(`${ROLLOUT_HALTED}:`);
}
