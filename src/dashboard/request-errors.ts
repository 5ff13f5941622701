/** Redis did not answer in time: BullMQ waits for a connection forever, so the dashboard gives up on its own. */
export class RedisUnavailableError extends Error {
  constructor() {
    super('Redis did not answer in time');
    this.name = 'RedisUnavailableError';
  }
}

/** Whether a failed request failed because Redis is away (refused, unknown, closed, out of retries, too slow). */
export function isRedisUnavailable(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return (
    error instanceof RedisUnavailableError ||
    /ECONNREFUSED|ETIMEDOUT|ENOTFOUND|Connection is closed|max retries|MaxRetriesPerRequest/i.test(message)
  );
}

/** The 4xx status express and its parsers put on an error they raise for a bad request, else undefined. */
export function clientErrorStatusOf(error: unknown): number | undefined {
  const { status, statusCode } = (error ?? {}) as { status?: unknown; statusCode?: unknown };
  const code = typeof status === 'number' ? status : statusCode;
  return typeof code === 'number' && Number.isInteger(code) && code >= 400 && code < 500 ? code : undefined;
}
