import { afterAll, beforeAll } from 'vitest';
import { type LocalRedis, startLocalRedis } from '../../src/queue/local-redis.js';

/**
 * The Redis a test file uses: `REDIS_URL` when set, otherwise a throwaway `redis-server` on a free port
 * (no persistence) that `stop()` ends; `redisForFile` below calls it in beforeAll/afterAll. Tests that restart
 * Redis need a private one: pass `{ private: true }`.
 */
async function useRedis(options: { private?: boolean } = {}): Promise<{
  url: string;
  server: LocalRedis | null;
  stop: () => Promise<void>;
}> {
  if (process.env.REDIS_URL && !options.private) {
    return { url: process.env.REDIS_URL, server: null, stop: async () => {} };
  }
  const server = await startLocalRedis();
  return { url: server.url, server, stop: () => server.stop() };
}

/**
 * The Redis of a whole test file (see `useRedis`): started before its first test, stopped after its last. Call
 * it at the top of the file or of a `describe`; read `url` (and `server`, for a private one) inside tests.
 *
 * @example
 * const redis = redisForFile();
 * it('…', async () => { const producer = await createProducer({ redisUrl: redis.url }); … });
 */
export function redisForFile(options: { private?: boolean } = {}): {
  readonly url: string;
  readonly server: LocalRedis | null;
} {
  let redis: Awaited<ReturnType<typeof useRedis>> | undefined;
  beforeAll(async () => {
    redis = await useRedis(options);
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const started = () => {
    if (!redis)
      throw new Error('redisForFile: Redis is read before the file started it (use it inside tests).');
    return redis;
  };
  return {
    get url() {
      return started().url;
    },
    get server() {
      return started().server;
    },
  };
}
