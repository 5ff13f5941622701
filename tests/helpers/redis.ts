import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type LocalRedis, startLocalRedis } from '../../src/queue/local-redis.js';
import { makeTlsFiles } from './tls.js';

/**
 * The Redis a test file uses: `REDIS_URL` when set, otherwise a throwaway `redis-server` on a free port
 * (no persistence) that `stop()` ends; `redisForFile` below calls it in beforeAll/afterAll. Tests that restart
 * Redis need a private one: pass `{ private: true }`. `{ tls: true }` starts a private TLS-only one (`rediss://`)
 * whose certificate a throwaway CA signed for 127.0.0.1 (`caFile`, which no client trusts unless told).
 */
async function useRedis(options: RedisForFileOptions = {}): Promise<{
  url: string;
  server: LocalRedis | null;
  caFile: string | null;
  stop: () => Promise<void>;
}> {
  if (process.env.REDIS_URL && !options.private && !options.tls) {
    return { url: process.env.REDIS_URL, server: null, caFile: null, stop: async () => {} };
  }
  const certificates = options.tls ? fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-tls-')) : undefined;
  const tls = certificates ? makeTlsFiles(certificates) : undefined;
  const server = await startLocalRedis({ tls });
  return {
    url: server.url,
    server,
    caFile: tls?.caFile ?? null,
    stop: async () => {
      await server.stop();
      if (certificates) fs.rmSync(certificates, { recursive: true, force: true });
    },
  };
}

interface RedisForFileOptions {
  /** A Redis of the file's own, even when `REDIS_URL` is set (tests that restart it). */
  private?: boolean;
  /** A private TLS-only Redis (`rediss://`); its CA's PEM file is `caFile`. */
  tls?: boolean;
}

/**
 * The Redis of a whole test file (see `useRedis`): started before its first test, stopped after its last. Call
 * it at the top of the file or of a `describe`; read `url` (and `server`, for a private one) inside tests.
 *
 * @example
 * const redis = redisForFile();
 * it('…', async () => { const producer = await createProducer({ redisUrl: redis.url }); … });
 */
export function redisForFile(options: RedisForFileOptions = {}): {
  readonly url: string;
  readonly server: LocalRedis | null;
  readonly caFile: string | null;
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
    get caFile() {
      return started().caFile;
    },
  };
}
