import path from 'node:path';
import type { Command } from 'commander';
import { redactRedisUrl, redisUrlFromEnv } from '../../queue/connection.js';
import { DEFAULT_FILE_LOCK_TIMEOUT_MS } from '../../worker/defaults.js';
import type { MigrationWorker } from '../../worker/migration-worker.js';
import type { CliContext } from '../context.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { redisConnectionOf, refuseRedisThatRefuses } from '../redis-connection.js';
import {
  DEFAULT_BUSY_TIMEOUT_OPTION_MS,
  parseNonNegativeInt,
  parseStallTimeoutMs,
  parseTimeoutMs,
  queueNameOf,
  WORKER_BUSY_TIMEOUT_HELP,
  WORKER_LOCK_TIMEOUT_HELP,
} from './options.js';

interface WorkerOptions {
  queue?: string;
  roots?: string;
  busyTimeout: number;
  lockTimeout: number;
  stallTimeout?: number;
}

/** `gao-migrate worker`: consume migration jobs, one at a time, until SIGTERM or SIGINT. */
export function registerWorkerCommand(program: Command, context: CliContext): void {
  program
    .command('worker')
    .description(
      'consume migration jobs from Redis one at a time (concurrency 1); SIGTERM/SIGINT finish the current job, then exit 0',
    )
    .option('--queue <name>', 'queue name (default: GAO_MIGRATE_QUEUE, else migrations)')
    .option(
      '--roots <list>',
      `directories whose databases may be migrated, separated by "${path.delimiter}" (default: GAO_MIGRATE_ROOTS, else the current directory)`,
    )
    .option('--busy-timeout <ms>', WORKER_BUSY_TIMEOUT_HELP, parseTimeoutMs, DEFAULT_BUSY_TIMEOUT_OPTION_MS)
    .option(
      '--lock-timeout <ms>',
      WORKER_LOCK_TIMEOUT_HELP,
      parseNonNegativeInt,
      DEFAULT_FILE_LOCK_TIMEOUT_MS,
    )
    .option(
      '--stall-timeout <ms>',
      "how soon a job (or fleet rollout) whose worker died (kill -9, power loss) is handed to another worker: BullMQ's lock duration and stalled-job check interval, and the staleness of <db>.lock (default: 30000 for BullMQ, 10000 for the file lock)",
      parseStallTimeoutMs,
    )
    .action((options: WorkerOptions) => runWorker(options, context));
}

async function runWorker(options: WorkerOptions, context: CliContext): Promise<void> {
  const queueName = queueNameOf(options.queue);
  const logger = context.logger();
  const redisUrl = redisUrlFromEnv();
  const connection = redisConnectionOf(redisUrl);
  await refuseRedisThatRefuses(redisUrl, connection);
  // Loaded here, not at start-up: `up`, `down` and `verify` never pay for BullMQ.
  const [{ createMigrationWorker }, { startRolloutController }] = await Promise.all([
    import('../../worker/migration-worker.js'),
    import('../../fleet/controller.js'),
  ]);
  let running: MigrationWorker;
  try {
    running = createMigrationWorker({
      redisUrl,
      queueName,
      roots: options.roots?.split(path.delimiter).filter((root) => root.trim() !== ''),
      logger,
      busyTimeoutMs: options.busyTimeout,
      fileLock: {
        timeoutMs: options.lockTimeout,
        ...(options.stallTimeout !== undefined && { staleMs: options.stallTimeout }),
      },
      ...(options.stallTimeout !== undefined && {
        lockDuration: options.stallTimeout,
        stalledInterval: options.stallTimeout,
      }),
    });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  // Every worker can also drive rollouts: BullMQ hands each rollout job to one of them.
  const controller = startRolloutController({
    connection,
    queueName: running.queueName,
    ...(options.stallTimeout !== undefined && { stallTimeoutMs: options.stallTimeout }),
    onEvent: (event) => logger.info({ component: 'rollout', ...event }, String(event.event)),
  });
  logger.info(
    { queue: running.queueName, roots: running.roots, redis: redactRedisUrl(redisUrl), concurrency: 1 },
    'worker started',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.removeListener('SIGTERM', stop);
      process.removeListener('SIGINT', stop);
      logger.info({ signal }, 'stopping: finishing the current job (signal again to abort)');
      Promise.all([controller.close(), running.close()]).then(
        () => resolve(),
        (error: unknown) => {
          logger.error({ err: error }, 'error while closing the worker');
          resolve();
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  logger.info('worker stopped');
  context.setExitCode(ExitCode.OK);
  // Closed while Redis was away, BullMQ leaves a timer behind that would hold the process for up to 6 s more.
  context.endProcessWhenDone();
}
