import { Redis, type RedisOptions } from 'ioredis';
import { redactRedisUrl } from '../queue/connection.js';

/** Redis did not answer: producers report it in one sentence instead of waiting forever. */
export class RedisUnavailableError extends Error {
  readonly code = 'REDIS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisUnavailableError';
  }
}

/** Default time to wait for Redis to answer a first PING, in ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;

/**
 * Connects once, without retrying, and PINGs; throws `RedisUnavailableError` naming the (redacted) URL when
 * nothing answers within `timeoutMs`.
 */
export async function assertRedisReachable(
  url: string,
  options: RedisOptions,
  timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): Promise<void> {
  const client = new Redis({
    ...options,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: NodeJS.ErrnoException | undefined;
  client.on('error', (error: NodeJS.ErrnoException) => {
    // Named in the message below: connect() itself only says "Connection is closed".
    lastError = error;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    const cause = lastError ?? (error as NodeJS.ErrnoException);
    const reason = (cause.code ?? cause.message).replace(/[.\s]+$/, '');
    throw new RedisUnavailableError(
      `Cannot reach Redis at ${redactRedisUrl(url)} (${reason}); start it or set REDIS_URL.`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
