import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from 'bullmq';

/** Where the queue's active jobs are: the worker's own Redis connection and key names. */
export interface JobOrderAccess {
  client: () => Promise<RedisClient>;
  toKey: (type: string) => string;
}

/** How long one look at the active jobs may take before it counts as unanswered (Redis away). */
const LOOK_TIMEOUT_MS = 2_000;

/**
 * Waits while a job on the same database that a worker took before this one is still active, so that jobs on one
 * database run in the order they were taken (the order they were queued): two free workers take an `up` and the
 * `down` queued after it at the same moment, and without this the `down` could reach `<db>.lock` first, find
 * nothing to roll back, and let the `up` apply after it.
 *
 * BullMQ moves a job to the head of its active list when a worker takes it, so the jobs after this one in that
 * list were taken before it. Resolves `null` once none of them is on `dbPath` (a real path), or when Redis does
 * not answer (the file lock still keeps the runs apart); resolves the id of such a job when it is still active
 * after `timeoutMs`.
 */
export async function waitForEarlierJobs(
  access: JobOrderAccess,
  jobId: string,
  dbPath: string,
  timeoutMs: number,
): Promise<string | null> {
  const started = Date.now();
  let pause = 25;
  for (;;) {
    const earlier = await Promise.race([
      earlierJobOn(access, jobId, dbPath).catch(() => null),
      sleep(LOOK_TIMEOUT_MS, null, { ref: false }),
    ]);
    if (earlier === null || Date.now() - started >= timeoutMs) return earlier;
    await sleep(pause);
    pause = Math.min(pause * 2, 250);
  }
}

/** The id of an active job taken before `jobId` whose database is `dbPath`, or null. */
async function earlierJobOn(access: JobOrderAccess, jobId: string, dbPath: string): Promise<string | null> {
  const client = await access.client();
  const active = (await client.lrange(access.toKey('active'), 0, -1)) as string[];
  const taken = active.indexOf(jobId);
  if (taken < 0) return null;
  const before = active.slice(taken + 1);
  if (before.length === 0) return null;
  // Sent together, so they share one round trip on the connection.
  const datas = await Promise.all(before.map((id) => client.hget(access.toKey(id), 'data')));
  for (const [index, data] of datas.entries()) {
    const other = typeof data === 'string' ? dbPathOf(data) : null;
    if (other !== null && realPathOf(other) === dbPath) return before[index] ?? null;
  }
  return null;
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
