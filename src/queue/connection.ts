import type { ConnectionOptions } from 'bullmq';
import type { RedisOptions } from 'ioredis';

/** Redis URL, from `REDIS_URL`. Default: `redis://127.0.0.1:6379`. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function redisUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_URL?.trim() || DEFAULT_REDIS_URL;
}

/**
 * ioredis options for a `redis://` or `rediss://` URL (user, password, database number, TLS).
 * `maxRetriesPerRequest: null` is what BullMQ workers require; producers override it to fail fast.
 */
export function connectionOptionsFromUrl(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`REDIS_URL is not a valid URL: ${redactRedisUrl(url)}.`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`REDIS_URL must start with redis:// or rediss://, not ${parsed.protocol}//.`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new TypeError('REDIS_URL names a database that is not a whole number.');
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/** Longest wait between two reconnection attempts of a long-lived connection (see `reconnectDelayMs`). */
export const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * ioredis `retryStrategy` for the connections that wait for Redis while it is away (worker, rollout controller,
 * dashboard): attempts 200 ms, 400 ms, ... apart, then every 2 s for as long as it takes. BullMQ's own backs off
 * to 20 s, so a service kept failing for up to 20 s after Redis was back.
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS);
}

/**
 * `connection` reconnecting at most 2 s apart (`reconnectDelayMs`), for a long-lived BullMQ worker or queue. An
 * ioredis client passed in, or options with a `retryStrategy` of their own, are left as they are.
 */
export function withReconnectDelay(connection: ConnectionOptions): ConnectionOptions {
  const isClient = typeof (connection as { duplicate?: unknown }).duplicate === 'function';
  if (isClient) return connection;
  return { retryStrategy: reconnectDelayMs, ...(connection as RedisOptions) };
}

/** The URL with any password replaced by `***`, for logs and messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^:@/]*):([^@/]*)@/i, '$1$2:***@');
}
