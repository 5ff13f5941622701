import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Command } from 'commander';
import type { Operation, ProgressEvent, RunResult } from '../../engine/types.js';
import { DEFAULT_FILE_LOCK_TIMEOUT_MS } from '../../worker/defaults.js';
import type { CliContext } from '../context.js';
import { lockDatabaseFile } from '../db-lock.js';
import {
  COMMITTING,
  type MigrateThreadInput,
  type MigrateThreadMessage,
  RUNNING,
  STOPPING,
} from '../migrate-thread-protocol.js';
import { exitCodeOf, formatRunResult, printJson } from '../output.js';
import { removeOwnPartialCopies } from '../partial-copies.js';
import { assertMigrationId, DEFAULT_DB_PATH, parseNonNegativeInt, parseTimeoutMs } from './options.js';

interface MigrateOptions {
  db: string;
  migration?: string;
  dryRun?: boolean;
  json?: boolean;
  full?: boolean;
  busyTimeout: number;
  lockTimeout: number;
}

const DESCRIPTIONS: Record<Operation, string> = {
  up: 'apply a migration to one database (backup first, one transaction, verified before commit)',
  down: 'roll a migration back by rebuilding the table (backup first, one transaction)',
  verify: 'check that a migration is applied exactly as defined; exit 1 if not',
};

/** `gao-migrate up|down|verify`: one database, no Redis. */
export function registerMigrateCommands(program: Command, context: CliContext): void {
  for (const op of ['up', 'down', 'verify'] as const) {
    const command = program
      .command(op)
      .description(DESCRIPTIONS[op])
      .option('--db <path>', 'the database file', DEFAULT_DB_PATH)
      .option('--migration <id>', 'migration id (default: the latest, 006)')
      .option('--json', 'print one JSON result object on stdout')
      .option(
        '--busy-timeout <ms>',
        'how long to wait for another process to release the database',
        parseTimeoutMs,
        5000,
      );
    if (op !== 'verify') {
      command.option(
        '--lock-timeout <ms>',
        "how long to wait for <db>.lock, held by a worker's job on this database or a restore of it",
        parseNonNegativeInt,
        DEFAULT_FILE_LOCK_TIMEOUT_MS,
      );
    }
    if (op === 'verify') command.option('--full', 'run the full integrity_check instead of quick_check');
    else command.option('--dry-run', 'run every check and print the plan; write nothing, make no backup');
    command.action((options: MigrateOptions) => runMigrate(op, options, context));
  }
}

async function runMigrate(op: Operation, options: MigrateOptions, context: CliContext): Promise<void> {
  assertMigrationId(options.migration);
  const logger = context.logger().child({ op, db: options.db });
  // A change takes the <db>.lock workers and restore take; checks and dry runs only read.
  const release =
    op === 'verify' || options.dryRun
      ? async () => {}
      : await lockDatabaseFile(options.db, { timeoutMs: options.lockTimeout, doing: `run ${op} again` });
  let interruption: Awaited<ReturnType<typeof runOnThread>>;
  try {
    interruption = await runOnThread(
      {
        op,
        input: {
          dbPath: options.db,
          migration: options.migration,
          dryRun: options.dryRun === true,
          fullIntegrityCheck: options.full === true,
        },
        busyTimeoutMs: options.busyTimeout,
        stopOrCommit: new Int32Array(new SharedArrayBuffer(4)),
      },
      (event) => logProgress(logger, event),
    );
  } finally {
    await release();
  }
  if ('stopped' in interruption) {
    const removed = removeOwnPartialCopies(options.db);
    const message = `Stopped at once (${interruption.stopped}) before ${op} finished: SQLite rolled its transaction back, so the database is unchanged${removed > 0 ? ', and the backup it was writing, not yet complete, was removed' : ''}.`;
    if (options.json) printJson({ ok: false, error: { code: 'INTERRUPTED', message } });
    process.stderr.write(`gao-migrate: ${message} (INTERRUPTED)\n`);
    context.setExitCode(128 + os.constants.signals[interruption.stopped]);
    return;
  }
  const { result } = interruption;
  const summary = { status: result.status, durationMs: result.durationMs, backupPath: result.backupPath };
  if (result.error) logger.error({ ...summary, code: result.error.code }, result.error.message);
  else logger.info(summary, `migration ${result.migration} ${op}: ${result.status}`);
  if (options.json) printJson(result);
  else process.stdout.write(formatRunResult(result));
  context.setExitCode(exitCodeOf(result));
}

type Signal = 'SIGINT' | 'SIGTERM';

/**
 * Runs the engine on a thread (migrate-thread.ts) so that this event loop answers SIGINT and SIGTERM while it works.
 * The first signal lets the run finish (a transaction stopped half-way leaves a hot journal and a partial backup
 * beside the database) and says so at once; a second one stops the thread, whose connection SQLite then rolls back.
 */
async function runOnThread(
  request: MigrateThreadInput,
  onProgress: (event: ProgressEvent) => void,
): Promise<{ result: RunResult } | { stopped: Signal }> {
  const thread = new Worker(new URL('../migrate-thread.js', import.meta.url), { workerData: request });
  let signalled: Signal | undefined;
  let stoppedBy: Signal | undefined;
  const onSignal = (signal: Signal) => {
    if (!signalled) {
      signalled = signal;
      const outcome =
        request.op === 'verify' || request.input.dryRun
          ? 'as it was'
          : 'either changed and verified or as it was, never half-way, with its backup complete';
      process.stderr.write(
        `gao-migrate: Interrupted (${signal}) while ${request.op} runs: it finishes first, so the database ends ${outcome}; a second signal stops it at once.\n`,
      );
    } else if (stoppedBy) {
      // Already stopping.
    } else if (Atomics.compareExchange(request.stopOrCommit, 0, RUNNING, STOPPING) === COMMITTING) {
      process.stderr.write(
        `gao-migrate: ${signal} ignored: ${request.op} is committing, which takes a moment.\n`,
      );
    } else {
      stoppedBy = signal;
      process.stderr.write(`gao-migrate: Stopping (${signal}) as soon as the statement in hand returns.\n`);
      void thread.terminate();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await new Promise((resolve, reject) => {
      thread.on('message', (message: MigrateThreadMessage) => {
        if (message.type === 'progress') onProgress(message.event);
        // Stopped on its way to COMMIT: it rolled back and answered before the thread ended.
        else if (stoppedBy) resolve({ stopped: stoppedBy });
        else resolve({ result: message.result });
      });
      thread.once('error', reject);
      thread.once('exit', (code) => {
        if (stoppedBy) resolve({ stopped: stoppedBy });
        else reject(new Error(`The engine thread exited with code ${code}.`));
      });
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function logProgress(logger: ReturnType<CliContext['logger']>, event: ProgressEvent): void {
  if (event.type === 'step') logger.debug({ step: event.step }, `step ${event.step}`);
  else if (event.type === 'statement')
    logger.debug({ statement: event.index + 1, of: event.total }, event.sql.split('\n')[0]);
  else
    logger.info(
      { step: 'backup', backupPath: event.path, bytes: event.bytes, method: event.method },
      'backup written and checked',
    );
}
