import { type LocalRedis, startLocalRedis } from '../../src/queue/local-redis.js';

/**
 * The Redis a test file uses: `REDIS_URL` when set, otherwise a throwaway `redis-server` on a free port
 * (no persistence) that `stop()` ends. Call in beforeAll/afterAll. Tests that restart Redis need a private one:
 * pass `{ private: true }`.
 */
export async function useRedis(options: { private?: boolean } = {}): Promise<{
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
