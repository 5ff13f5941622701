import type { RedisOptions } from 'ioredis';
import { connectionOptionsFromUrl } from '../queue/connection.js';
import { UsageError } from './exit-codes.js';

/** ioredis options for `url` (from REDIS_URL); a malformed URL is a usage error. */
export function redisConnectionOf(url: string): RedisOptions {
  try {
    return connectionOptionsFromUrl(url);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * For commands that run until stopped and wait for Redis when it is away (`worker`, `dashboard`): refuses to
 * start when Redis answers but refuses the URL's database, since ioredis would go on in database 0.
 */
export async function refuseRedisThatRefuses(url: string, connection: RedisOptions): Promise<void> {
  const { assertRedisNotRefusing, RedisRefusedError } = await import('../queue/redis-check.js');
  try {
    await assertRedisNotRefusing(url, connection);
  } catch (error) {
    if (error instanceof RedisRefusedError) throw new UsageError(error.message, error.code);
    throw error;
  }
}
