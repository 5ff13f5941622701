import path from 'node:path';
import type { Logger } from 'pino';
import { startRolloutController } from '../fleet/controller.js';
import { connectionOptionsFromUrl, redactRedisUrl } from '../queue/connection.js';
import { answersPing, findRedisServer, REDIS_INSTALL_HINT, startLocalRedis } from '../queue/local-redis.js';
import { createMigrationWorker } from '../worker/migration-worker.js';
import { UsageError } from './exit-codes.js';

/** Where Redis answers when nothing is configured. */
const DEFAULT_REDIS_PORT = 6379;

export interface RedisForRun {
  url: string;
  /** True when this process started its own redis-server, which no other worker can see. */
  private: boolean;
  stop(): Promise<void>;
}

/**
 * `REDIS_URL` when set; else Redis on 127.0.0.1:6379 when it answers; else a private `redis-server` from PATH
 * for this run only (said on the log). With none installed: a usage error that says how to get one.
 */
export async function redisForRun(
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
  defaultPort = DEFAULT_REDIS_PORT,
): Promise<RedisForRun> {
  if (env.REDIS_URL?.trim()) return { url: env.REDIS_URL.trim(), private: false, stop: async () => {} };
  if (await answersPing(defaultPort)) {
    return { url: `redis://127.0.0.1:${defaultPort}`, private: false, stop: async () => {} };
  }
  const binary = findRedisServer(env);
  if (!binary) {
    throw new UsageError(
      `REDIS_URL is not set and no Redis answers on 127.0.0.1:${defaultPort}. ${REDIS_INSTALL_HINT}`,
    );
  }
  // The one found on `env`'s PATH, not the process's: the two may differ.
  const server = await startLocalRedis({ binary }).catch((error: Error) => {
    // Its own reason (a port taken, an option it refuses, a directory it may not write) in one line, not a stack.
    const reason = error.message.trim().replace(/\s*\n\s*/g, ' / ');
    throw new UsageError(
      `REDIS_URL is not set, no Redis answers on 127.0.0.1:${defaultPort}, and a private redis-server (${binary}) could not be started: ${reason.replace(/\.$/, '')}.`,
      'REDIS_UNAVAILABLE',
    );
  });
  logger.info(
    { redis: server.url },
    'no Redis configured or running: started a private redis-server for this run',
  );
  return { url: server.url, private: true, stop: () => server.stop() };
}

/**
 * What `gao-migrate worker` takes for its worker, and `fleet` passes to the one it runs itself (all in ms):
 * `stallTimeoutMs` (`--stall-timeout`) is BullMQ's lock duration and stalled-job check interval of the worker and
 * its rollout controller, and the staleness of `<db>.lock` (defaults: 30000, and 10000 for the file lock);
 * `busyTimeoutMs` (`--busy-timeout`) how long the engine waits for another SQLite connection (default: 5000);
 * `lockTimeoutMs` (`--lock-timeout`) how long a job waits for `<db>.lock` (default: 30000).
 */
export interface InProcessWorkerSettings {
  stallTimeoutMs?: number;
  busyTimeoutMs?: number;
  lockTimeoutMs?: number;
}

/**
 * A migration worker and a rollout controller in this process, for runs on a private Redis (no other worker
 * can reach it) and for the demo. Roots are the directories of the given databases.
 */
export function startInProcessWorkers(
  options: {
    redisUrl: string;
    queueName: string;
    targets: string[];
    logger: Logger;
  } & InProcessWorkerSettings,
) {
  const roots = [...new Set(options.targets.map((target) => path.dirname(path.resolve(target))))];
  const { stallTimeoutMs, busyTimeoutMs, lockTimeoutMs } = options;
  const worker = createMigrationWorker({
    redisUrl: options.redisUrl,
    queueName: options.queueName,
    roots,
    logger: options.logger.child({ component: 'worker' }),
    ...(busyTimeoutMs !== undefined && { busyTimeoutMs }),
    fileLock: {
      ...(lockTimeoutMs !== undefined && { timeoutMs: lockTimeoutMs }),
      ...(stallTimeoutMs !== undefined && { staleMs: stallTimeoutMs }),
    },
    ...(stallTimeoutMs !== undefined && {
      lockDuration: stallTimeoutMs,
      stalledInterval: stallTimeoutMs,
    }),
  });
  const controller = startRolloutController({
    connection: connectionOptionsFromUrl(options.redisUrl),
    queueName: options.queueName,
    ...(stallTimeoutMs !== undefined && { stallTimeoutMs }),
    onEvent: (event) => options.logger.info({ component: 'rollout', ...event }, String(event.event)),
  });
  options.logger.debug({ redis: redactRedisUrl(options.redisUrl), roots }, 'in-process worker started');
  return {
    close: async () => {
      await Promise.all([controller.close(), worker.close()]);
    },
  };
}
