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

/** Whether an error from a Redis command means the connection is gone (refused, reset, closed, out of retries). */
export function isRedisConnectionError(error: unknown): boolean {
  const text = `${(error as NodeJS.ErrnoException)?.code ?? ''} ${(error as Error)?.message ?? ''}`;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|max retries|Stream isn't writeable/i.test(
    text,
  );
}

/** `Lost the connection to Redis (why); <consequence>` as a REDIS_UNAVAILABLE usage error. */
export function lostRedis(error: unknown, consequence: string): UsageError {
  const message = (error as Error)?.message ?? String(error);
  const why = /max retries/i.test(message) ? 'it stopped answering' : message.replace(/\.+$/, '');
  return new UsageError(`Lost the connection to Redis (${why}); ${consequence}`, 'REDIS_UNAVAILABLE');
}
