import os from 'node:os';
import type { Command } from 'commander';
import type { Operation, ProgressEvent, RunResult } from '../../engine/types.js';
import { DEFAULT_FILE_LOCK_TIMEOUT_MS } from '../../worker/defaults.js';
import type { CliContext } from '../context.js';
import { lockDatabaseFile } from '../db-lock.js';
import { UsageError } from '../exit-codes.js';
import {
  COMMITTING,
  type MigrateThreadInput,
  type MigrateThreadMessage,
  RUNNING,
  STOPPING,
} from '../migrate-thread-protocol.js';
import { exitCodeOf, formatRunResult, printFailure, printJson } from '../output.js';
import { removeOwnPartialCopies } from '../partial-copies.js';
import { runSignalledThread } from '../signalled-thread.js';
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
  if (options.db === '')
    throw new UsageError('--db is empty: give the database file, such as .gao-dev/documents.db.');
  const logger = context.logger().child({ op, db: options.db });
  // A change takes the <db>.lock workers and restore take; checks and dry runs only read.
  const release =
    op === 'verify' || options.dryRun
      ? async () => {}
      : await lockDatabaseFile(options.db, {
          timeoutMs: options.lockTimeout,
          doing: `run ${op} again`,
          unlockedInReadOnlyDirectory: true,
        });
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
    printFailure('INTERRUPTED', message, options.json);
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

/**
 * Runs the engine on a thread (migrate-thread.ts), answering signals meanwhile (see `runSignalledThread`). The
 * thread and this command claim one flag before COMMIT and before a stop: a stopped run never commits.
 */
function runOnThread(request: MigrateThreadInput, onProgress: (event: ProgressEvent) => void) {
  const changes = request.op !== 'verify' && !request.input.dryRun;
  return runSignalledThread<RunResult>(new URL('../migrate-thread.js', import.meta.url), request, {
    doing: request.op,
    outcome: changes
      ? 'either changed and verified or as it was, never half-way, with its backup complete'
      : 'as it was',
    stopsAfter: 'the statement in hand',
    claimStop: () => Atomics.compareExchange(request.stopOrCommit, 0, RUNNING, STOPPING) !== COMMITTING,
    onMessage: (message) => {
      const said = message as MigrateThreadMessage;
      if (said.type === 'result') return said.result;
      onProgress(said.event);
      return undefined;
    },
  });
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
