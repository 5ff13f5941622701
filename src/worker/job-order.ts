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
  /**
   * The change (an `up` or a `down` on the same database) it was queued after, when its producer recorded one: see
   * `changeFollowedBy` in src/queue/job-options.ts.
   */
  follows?: string;
}

/** A job on the same database queued before this one that has not run yet. */
export interface EarlierJob {
  id: string;
  /**
   * Set when that job is not running but waiting for its turn (back in the queue) or for a retry (in backoff):
   * when to look again, in ms since the epoch. Polling would hold this worker while the earlier job needs one.
   */
  deferUntil?: number;
  /** Where the earlier job is, when `deferUntil` is set. */
  state?: 'it is delayed, for a retry or for a job before it' | 'it waits for a worker';
}

/** How long after an earlier job's retry is due this job looks again: time for a worker to take that job first. */
export const DEFER_MARGIN_MS = 250;
/** How long a job waits, out of the way, for an earlier one that is back in the queue and waits for a worker. */
export const DEFER_QUEUED_MS = 1_000;

/**
 * Waits while a job on the same database queued before this one is still active or back in the wait list, so that
 * jobs on one database run in the order they were queued: two free workers take an `up` and the `down` queued
 * after it at the same moment, and without this the `down` could reach `<db>.lock` first, find nothing to roll
 * back, and let the `up` apply after it; nor does a `down` overtake an `up` whose worker died and which BullMQ puts
 * back in the queue.
 *
 * The change a job was queued after (the producer records it: see src/queue/last-changes.ts) is followed wherever
 * it is: when it is not running but waits for a retry (in backoff) or for a worker (back in the queue), the answer
 * says at once when to look again (`deferUntil`), so that the job steps aside instead of holding the worker.
 *
 * Resolves `null` once there is none (`dbPath` is a real path), or when Redis does not answer (the file lock still
 * keeps the runs apart); resolves such a job when it must be waited for out of the way (`deferUntil`), or when it
 * is still running after `timeoutMs`.
 */
export async function waitForEarlierJobs(
  access: JobOrderAccess,
  job: OrderedJob,
  dbPath: string,
  timeoutMs: number,
): Promise<EarlierJob | null> {
  const started = Date.now();
  let pause = 25;
  for (;;) {
    const earlier = await Promise.race([
      earlierJobOn(access, job, dbPath).catch(() => null),
      sleep(LOOK_TIMEOUT_MS, null, { ref: false }),
    ]);
    if (earlier === null || earlier.deferUntil !== undefined || Date.now() - started >= timeoutMs)
      return earlier;
    await sleep(pause);
    pause = Math.min(pause * 2, 250);
  }
}

/**
 * Picks, in Redis and in one round trip, the active jobs and those at the taking end of the wait list that were
 * queued before the job (ARGV[2], queued at ARGV[3]), leaving out waiting jobs that failed an attempt (a retry after
 * its backoff, queued anew: BullMQ puts it at the far end, so it is not waited for; one that did not was put back
 * after its worker died, and is taken next). Answers first where the change the job follows (ARGV[5], or '') is
 * while it has not finished and was queued before the job (a change named by a job added by hand that was queued
 * after it is not followed: two jobs naming each other would otherwise step aside for each other for ever): its
 * id, its state ('active', 'delayed' with when it is due, from its score in the
 * delayed set KEYS[3], or 'queued' anywhere else), or three empty
 * strings; then the ids and data of the others, in pairs. BullMQ's own ids come from one counter in Redis, so they
 * order jobs whatever the clocks of the hosts that queued them; ids given by hand (a rollout's) are ordered by time.
 */
const EARLIER_JOBS_SCRIPT = `
local mine, myAt = ARGV[2], tonumber(ARGV[3])
local mineNumeric = string.find(mine, '^%d+$') ~= nil
local function idBefore(id)
  if mineNumeric and string.find(id, '^%d+$') then
    if #id ~= #mine then return #id < #mine end
    return id < mine
  end
  return nil
end
local function before(id, timestamp)
  local byId = idBefore(id)
  if byId ~= nil then return byId end
  local at = tonumber(timestamp)
  if at and myAt and at ~= myAt then return at < myAt end
  return id < mine
end
local found, seen = {}, {}
local function look(ids, active)
  for _, id in ipairs(ids) do
    if id ~= mine and not seen[id] then
      seen[id] = true
      if idBefore(id) ~= false then
        local fields = redis.call('HMGET', ARGV[1] .. id, 'data', 'timestamp', 'atm', 'attemptsMade')
        local attempts = tonumber(fields[3] or fields[4] or 0) or 0
        if fields[1] and before(id, fields[2]) and (active or attempts == 0) then
          found[#found + 1] = id
          found[#found + 1] = fields[1]
        end
      end
    end
  end
end
local follows, state, dueAt = '', '', ''
if ARGV[5] ~= '' and ARGV[5] ~= mine then
  local fields = redis.call('HMGET', ARGV[1] .. ARGV[5], 'timestamp', 'finishedOn')
  if fields[1] and not fields[2] and before(ARGV[5], fields[1]) then
    follows = ARGV[5]
    local score = redis.call('ZSCORE', KEYS[3], follows)
    if score then
      state, dueAt = 'delayed', tostring(math.floor(tonumber(score) / 4096))
    else
      state = 'queued'
    end
  end
end
local active = redis.call('LRANGE', KEYS[1], 0, -1)
if state == 'queued' then
  for _, id in ipairs(active) do
    if id == follows then state = 'active' end
  end
end
look(active, true)
look(redis.call('LRANGE', KEYS[2], -tonumber(ARGV[4]), -1), false)
local answer = { follows, state, dueAt }
for _, value in ipairs(found) do answer[#answer + 1] = value end
return answer
`;

/**
 * The script as a command of the client: ioredis sends its SHA1 (EVALSHA) rather than its text, and its text again
 * only when Redis does not have it (after a restart).
 */
const EARLIER_JOBS_COMMAND = 'gaoMigrateEarlierJobs';
const scriptDefinedOn = new WeakSet<object>();

/** An active or waiting job queued before `job` whose database is `dbPath`, or null. */
async function earlierJobOn(
  access: JobOrderAccess,
  job: OrderedJob,
  dbPath: string,
): Promise<EarlierJob | null> {
  const client = await access.client();
  if (!scriptDefinedOn.has(client)) {
    client.defineCommand(EARLIER_JOBS_COMMAND, { numberOfKeys: 3, lua: EARLIER_JOBS_SCRIPT });
    scriptDefinedOn.add(client);
  }
  const [follows, state, dueAt, ...found] = (await client.runCommand(EARLIER_JOBS_COMMAND, [
    access.toKey('active'),
    access.toKey('wait'),
    access.toKey('delayed'),
    access.toKey(''),
    job.id,
    String(job.timestamp),
    String(WAIT_TAIL),
    job.follows ?? '',
  ])) as string[];
  if (follows && state === 'delayed') {
    return {
      id: follows,
      state: 'it is delayed, for a retry or for a job before it',
      deferUntil: Math.max(Number(dueAt), Date.now()) + DEFER_MARGIN_MS,
    };
  }
  if (follows && state === 'queued')
    return { id: follows, state: 'it waits for a worker', deferUntil: Date.now() + DEFER_QUEUED_MS };
  if (follows && state === 'active') return { id: follows };
  for (let index = 0; index < found.length; index += 2) {
    const other = dbPathOf(found[index + 1] as string);
    if (other !== null && realPathOf(other) === dbPath) return { id: found[index] as string };
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

/** Real paths of the databases other jobs name, kept for the worker's life (bounded), so a look costs no syscalls. */
const realPaths = new Map<string, string>();
const REAL_PATHS_KEPT = 10_000;

function realPathOf(dbPath: string): string {
  const known = realPaths.get(dbPath);
  if (known !== undefined) return known;
  const absolute = path.resolve(dbPath);
  let real: string;
  try {
    real = fs.realpathSync(absolute);
  } catch {
    // Not there (yet): not remembered, so it is resolved again once it is.
    return absolute;
  }
  if (realPaths.size >= REAL_PATHS_KEPT) realPaths.clear();
  realPaths.set(dbPath, real);
  return real;
}
