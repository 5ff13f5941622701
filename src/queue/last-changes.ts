import type { RedisClient } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobName } from './contract.js';

/**
 * A hash per database (keyed by `databaseKeyOf`: its real path) with the ids of the last `up` and `down` queued for
 * it, by `gao-migrate enqueue` (the producer) and by rollouts alike. A job's deduplication id names the change it
 * must follow (`changeToFollow`), so that it collapses only into a job queued after that change (up, down, up is
 * three jobs), and workers run it only once that change has run (see src/worker/job-order.ts): the database ends
 * as the last request asked.
 */
export function lastChangesKeyOf(queue: { toKey(type: string): string }, databaseKey: string): string {
  // Job ids cannot contain ":", so this never collides with a job's key.
  return queue.toKey(`last-changes:${databaseKey}`);
}

/** As long as failed jobs are kept (see `defaultJobOptions`): no pending job is older. */
export const LAST_CHANGES_TTL_SECONDS = 30 * 24 * 3600;

/** The fields of the hash: the last up, the last down, and the last of either. */
const CHANGE_FIELDS = ['migrate-up', 'migrate-down', 'change'] as const;

export interface LastChanges {
  'migrate-up': string | null;
  'migrate-down': string | null;
  change: string | null;
}

/** The jobs that change a database (when not a dry run); a verify or a dry run only reads it. */
export function isChange(name: JobName, dryRun: boolean): boolean {
  return !dryRun && (name === 'migrate-up' || name === 'migrate-down');
}

/** The change a job must follow: for an up the last down, for a down the last up, for a verify or a dry run the last of either. */
export function changeToFollow(last: LastChanges, name: JobName, dryRun: boolean): string | null {
  if (!isChange(name, dryRun)) return last.change;
  return name === 'migrate-up' ? last['migrate-down'] : last['migrate-up'];
}

/** The last changes of each database key, in one round trip. */
export async function readLastChanges(client: RedisClient, keys: readonly string[]): Promise<LastChanges[]> {
  if (keys.length === 0) return [];
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.runCommand('hmget', [key, ...CHANGE_FIELDS]);
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, values]) => {
    if (error) throw error;
    const [up, down, change] = values as (string | null)[];
    return { 'migrate-up': up ?? null, 'migrate-down': down ?? null, change: change ?? null };
  });
}

/** Records each change job (`jobIds[i]`, a `name` on the database of `keys[i]`) as its database's last, in one round trip. */
export async function recordChanges(
  client: RedisClient,
  keys: readonly string[],
  name: JobName,
  jobIds: readonly string[],
): Promise<void> {
  if (keys.length === 0) return;
  const transaction = client.multi();
  keys.forEach((key, index) => {
    transaction.hset(key, { [name]: jobIds[index] as string, change: jobIds[index] as string });
    transaction.runCommand('expire', [key, LAST_CHANGES_TTL_SECONDS]);
  });
  await transaction.exec();
}

/**
 * Removes every last-changes hash of the queue: `obliterate` leaves them, as they are no job's. For a queue
 * thrown away whole (the demo's); a live queue's are what keeps its databases' jobs in order.
 */
export async function removeLastChanges(queue: {
  toKey(type: string): string;
  client: Promise<RedisClient>;
}): Promise<number> {
  const client = (await queue.client) as unknown as Pick<Redis, 'scan' | 'unlink'>;
  // The queue's own part of the pattern is taken literally (a name may hold * ? [ ]).
  const pattern = `${lastChangesKeyOf(queue, '').replace(/[*?[\]\\]/g, '\\$&')}*`;
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) removed += await client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  return removed;
}
