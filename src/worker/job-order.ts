import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from 'bullmq';

/** Where the queue's active jobs are: the worker's own Redis connection and key names. */
export interface JobOrderAccess {
  client: () => Promise<RedisClient>;
  toKey: (type: string) => string;
}

/** How long one look at the queue may take before it counts as unanswered (Redis away). */
const LOOK_TIMEOUT_MS = 2_000;

/**
 * Jobs looked at from the end of the wait list that workers take from: where BullMQ puts back a job whose worker
 * died (stalled) or let it go, ahead of the others. The rest of the list was queued after this job.
 */
const WAIT_TAIL = 50;

/** The job being checked: its id and when it was queued (BullMQ's `job.timestamp`). */
export interface OrderedJob {
  id: string;
  timestamp: number;
}

/**
 * Waits while a job on the same database queued before this one is still active or back in the wait list, so that
 * jobs on one database run in the order they were queued: two free workers take an `up` and the `down` queued
 * after it at the same moment, and without this the `down` could reach `<db>.lock` first, find nothing to roll
 * back, and let the `up` apply after it; nor does a `down` overtake an `up` whose worker died and which BullMQ puts
 * back in the queue. (A job waiting for a retry's backoff, in the delayed set, is not waited for.)
 *
 * Resolves `null` once there is none (`dbPath` is a real path), or when Redis does not answer (the file lock still
 * keeps the runs apart); resolves the id of such a job when it is still there after `timeoutMs`.
 */
export async function waitForEarlierJobs(
  access: JobOrderAccess,
  job: OrderedJob,
  dbPath: string,
  timeoutMs: number,
): Promise<string | null> {
  const started = Date.now();
  let pause = 25;
  for (;;) {
    const earlier = await Promise.race([
      earlierJobOn(access, job, dbPath).catch(() => null),
      sleep(LOOK_TIMEOUT_MS, null, { ref: false }),
    ]);
    if (earlier === null || Date.now() - started >= timeoutMs) return earlier;
    await sleep(pause);
    pause = Math.min(pause * 2, 250);
  }
}

/** The id of an active or waiting job queued before `job` whose database is `dbPath`, or null. */
async function earlierJobOn(access: JobOrderAccess, job: OrderedJob, dbPath: string): Promise<string | null> {
  const client = await access.client();
  const [active, waiting] = (await Promise.all([
    client.lrange(access.toKey('active'), 0, -1),
    client.lrange(access.toKey('wait'), -WAIT_TAIL, -1),
  ])) as [string[], string[]];
  const others = [...new Set([...active, ...waiting])].filter((id) => id !== job.id);
  if (others.length === 0) return null;
  // Sent together, so they share one round trip on the connection.
  const fields = await Promise.all(
    others.map((id) => client.hmget(access.toKey(id), 'data', 'timestamp', 'atm', 'attemptsMade')),
  );
  const running = new Set(active);
  for (const [index, [data, timestamp, atm, attemptsMade]] of fields.entries()) {
    const id = others[index] as string;
    if (typeof data !== 'string' || !queuedBefore(id, Number(timestamp), job)) continue;
    // A waiting job that failed an attempt is a retry after its backoff, queued anew (BullMQ puts it at the far
    // end): not waited for. One that did not was put back after its worker died, and is taken next.
    if (!running.has(id) && Number(atm ?? attemptsMade ?? 0) > 0) continue;
    const other = dbPathOf(data);
    if (other !== null && realPathOf(other) === dbPath) return id;
  }
  return null;
}

/**
 * Whether job `id`, queued at `timestamp`, was queued before `job`. BullMQ's own ids come from one counter in Redis,
 * so they order jobs whatever the clocks of the hosts that queued them; ids given by hand (a rollout's) by time.
 */
function queuedBefore(id: string, timestamp: number, job: OrderedJob): boolean {
  const [a, b] = [Number(id), Number(job.id)];
  if (Number.isSafeInteger(a) && Number.isSafeInteger(b) && /^\d+$/.test(id) && /^\d+$/.test(job.id))
    return a < b;
  if (Number.isFinite(timestamp) && timestamp !== job.timestamp) return timestamp < job.timestamp;
  return id < job.id;
}

function dbPathOf(data: string): string | null {
  try {
    const parsed = JSON.parse(data) as { dbPath?: unknown } | null;
    return typeof parsed?.dbPath === 'string' ? parsed.dbPath : null;
  } catch {
    return null;
  }
}

function realPathOf(dbPath: string): string {
  const absolute = path.resolve(dbPath);
  try {
    return fs.realpathSync(absolute);
  } catch {
    return absolute;
  }
}
