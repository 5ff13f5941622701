import { Worker } from 'bullmq';
import pino, { type Logger } from 'pino';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../engine/migrator.js';
import { closeWorker } from '../queue/close-worker.js';
import {
  connectionOptionsFromUrl,
  reconnectDelayMs,
  redactRedisUrl,
  redisUrlFromEnv,
} from '../queue/connection.js';
import { type MigrationJobResult, queueNameFromEnv } from '../queue/contract.js';
import { DEFAULT_MAX_STALLED_COUNT } from '../queue/job-options.js';
import { assertRedisNotRefusing } from '../queue/redis-check.js';
import { rolloutGateKey } from '../queue/rollout-gate.js';
import { resolveRoots, rootsFromEnv } from './allowed-roots.js';
import { createThreadEngineRunner, type EngineRunner } from './engine-runner.js';
import type { FileLockOptions } from './file-lock.js';
import { logLevelFromEnv } from './log-level.js';
import { createMigrationProcessor } from './processor.js';

export { DEFAULT_MAX_STALLED_COUNT };

export interface MigrationWorkerOptions {
  /** Default: `REDIS_URL`, else `redis://127.0.0.1:6379`. */
  redisUrl?: string;
  /** Default: `GAO_MIGRATE_QUEUE`, else `migrations`. */
  queueName?: string;
  /** Directories whose databases may be migrated. Default: `GAO_MIGRATE_ROOTS`, else the current directory. */
  roots?: readonly string[];
  /**
   * Default: pino JSON lines on stderr at `GAO_MIGRATE_LOG_LEVEL` (info); a line stderr cannot take is dropped. A
   * level pino does not know throws `InvalidLogLevelError` (`INVALID_INPUT`) before anything starts.
   */
  logger?: Logger;
  /** How long the engine waits for another SQLite connection's lock, in ms. Default: 5000. */
  busyTimeoutMs?: number;
  /** `<db>.lock` wait and staleness. Defaults: 30000 ms wait, 10000 ms stale. */
  fileLock?: FileLockOptions;
  /** Attempts for retryable failures of jobs added without `attempts`. Default: 5. */
  defaultAttempts?: number;
  /** BullMQ's job lock duration, in ms. Default: BullMQ's (30000). */
  lockDuration?: number;
  /** BullMQ's stalled-job check interval, in ms. Default: BullMQ's (30000). */
  stalledInterval?: number;
  /**
   * Times a job may stall (its worker died or lost Redis mid-job) before it fails. Default: 10, not BullMQ's 1:
   * the engine is idempotent and a killed run leaves nothing behind, so a job is safe to re-run after each crash.
   */
  maxStalledCount?: number;
  /**
   * Start consuming as soon as Redis is known not to refuse the URL's database number (see
   * `assertRedisNotRefusing`: ioredis would otherwise take jobs from database 0). Default: true. With false, the
   * caller starts the worker with `worker.run()`.
   */
  autorun?: boolean;
  /** The engine's runner. Default: one `node:worker_threads` thread. */
  engine?: EngineRunner;
}

export interface MigrationWorker {
  readonly worker: Worker<unknown, MigrationJobResult, string>;
  readonly queueName: string;
  readonly roots: readonly string[];
  /**
   * Stops taking jobs, lets the current one end, closes Redis and the engine thread. Safe to call twice. While
   * Redis is away it does not wait for it: the job's result then stays unreported and the job runs again later.
   */
  close(): Promise<void>;
}

/** pino JSON lines on stderr at `GAO_MIGRATE_LOG_LEVEL` (info), for a worker given no logger. */
function createDefaultLogger(level: string): Logger {
  const destination = pino.destination({ dest: 2, sync: true });
  // A line stderr cannot take (`2> log` on a full disk) is lost, not the job: unheard, the stream's 'error' would be
  // thrown out of the logging call and end the process mid-job (as the CLI's logger, src/cli/logger.ts).
  destination.on('error', () => {});
  return pino({ level, base: { pid: process.pid } }, destination);
}

/**
 * A BullMQ worker for migration jobs, concurrency 1.
 *
 * @example
 * const { close } = createMigrationWorker({ roots: ['/srv/projects'] });
 * process.once('SIGTERM', () => close());
 */
export function createMigrationWorker(options: MigrationWorkerOptions = {}): MigrationWorker {
  const redisUrl = options.redisUrl ?? redisUrlFromEnv();
  const queueName = options.queueName ?? queueNameFromEnv();
  const roots = options.roots ? resolveRoots(options.roots) : rootsFromEnv();
  // Checked before anything starts: pino would throw its own error, with a stack trace, on a level it does not know.
  const logger = options.logger ?? createDefaultLogger(logLevelFromEnv());
  const engine =
    options.engine ??
    createThreadEngineRunner({ busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
  const processor = createMigrationProcessor({
    roots,
    engine,
    logger,
    fileLock: options.fileLock,
    defaultAttempts: options.defaultAttempts,
    // Read only while a job runs, by then `worker` below exists.
    rolloutGate: { client: () => worker.client, keyOf: (rolloutId) => rolloutGateKey(worker, rolloutId) },
    jobOrder: { client: () => worker.client, toKey: (type) => worker.toKey(type) },
  });

  const connection = connectionOptionsFromUrl(redisUrl);
  const worker = new Worker<unknown, MigrationJobResult, string>(queueName, processor, {
    connection: {
      ...connection,
      // Keep reconnecting while Redis is away, at most 2 s apart.
      retryStrategy: reconnectDelayMs,
    },
    concurrency: 1,
    autorun: false,
    ...(options.lockDuration !== undefined && { lockDuration: options.lockDuration }),
    ...(options.stalledInterval !== undefined && { stalledInterval: options.stalledInterval }),
    maxStalledCount: options.maxStalledCount ?? DEFAULT_MAX_STALLED_COUNT,
  });
  let redisDown = false;
  worker.on('error', (error) => {
    // Without a listener an 'error' event would crash the process; connection errors are expected while Redis is away.
    if (!redisDown) logger.warn({ err: error, redis: redactRedisUrl(redisUrl) }, 'redis error');
    redisDown = true;
  });
  worker.on('ready', () => {
    if (redisDown) logger.info({ redis: redactRedisUrl(redisUrl) }, 'redis connection restored');
    redisDown = false;
  });
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled'));

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      try {
        await closeWorker(worker, () => processor.whenIdle());
      } finally {
        await engine.close();
      }
    })();
    return closing;
  };
  if (options.autorun ?? true) {
    assertRedisNotRefusing(redisUrl, connection).then(
      () => {
        if (!closing) worker.run().catch((error: Error) => worker.emit('error', error));
      },
      (error: Error) => {
        logger.error({ err: error, redis: redactRedisUrl(redisUrl) }, `${error.message} The worker stops.`);
        void close();
      },
    );
  }
  return { worker, queueName, roots, close };
}
