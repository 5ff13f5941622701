import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { otherDatabaseOfBackup } from '../../engine/backup-name.js';
import type { RestoreInput, RestoreResult } from '../../engine/restore.js';
import { refuseRestoreEarly, restorePathsOf } from '../../engine/restore-input.js';
import { printable } from '../../queue/printable.js';
import { DEFAULT_FILE_LOCK_TIMEOUT_MS } from '../../worker/defaults.js';
import type { CliContext } from '../context.js';
import { lockDatabaseFile } from '../db-lock.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { printFailure, printJson } from '../output.js';
import { removeOwnPartialCopies } from '../partial-copies.js';
import { runSignalledThread, type Signal } from '../signalled-thread.js';
import { DEFAULT_DB_PATH, parseNonNegativeInt } from './options.js';

interface RestoreOptions {
  db: string;
  from: string;
  json?: boolean;
  dryRun?: boolean;
  lockTimeout: number;
}

/** `gao-migrate restore --db PATH --from BACKUP`. */
export function registerRestoreCommand(program: Command, context: CliContext): void {
  program
    .command('restore')
    .description('put a backup in place of a database (checks it, keeps the current file as another backup)')
    .option('--db <path>', 'the database file to replace', DEFAULT_DB_PATH)
    .requiredOption('--from <backup>', 'the backup file to restore')
    .option('--json', 'print one JSON result object on stdout')
    .option(
      '--dry-run',
      'check the backup and the file in place, say what would be kept and how; write nothing',
    )
    .option(
      '--lock-timeout <ms>',
      "how long to wait for a worker's <db>.lock (a migration of this database in progress)",
      parseNonNegativeInt,
      DEFAULT_FILE_LOCK_TIMEOUT_MS,
    )
    .action(async (options: RestoreOptions) => {
      // Checked before the lock: an empty path resolves to the current directory, whose parent would get the lock.
      if (options.db === '') throw new UsageError('--db is empty: give the database file to replace.');
      if (options.from === '') throw new UsageError('--from is empty: give the backup file to restore.');
      const logger = context.logger().child({ op: 'restore', db: options.db });
      // What names and metadata refuse, refused at once: waiting for a worker's lock would not change the answer.
      const refused = refuseRestoreEarly({ dbPath: options.db, from: options.from });
      if (refused) {
        report(refused, options, logger, context);
        return;
      }
      warnIfBackupOfAnotherDatabase(options);
      // A dry run writes nothing, not even the lock's directory.
      const release = options.dryRun
        ? async () => {}
        : await lockDatabaseFile(options.db, {
            timeoutMs: options.lockTimeout,
            doing: 'restore',
            evenIfMissing: true,
          });
      let outcome: { result: RestoreResult } | { stopped: Signal };
      try {
        outcome = await restoreOffTheEventLoop(
          { dbPath: options.db, from: options.from, dryRun: options.dryRun === true },
          logger,
        );
      } finally {
        await release();
      }
      if ('stopped' in outcome) {
        const removed = removeOwnPartialCopies(options.db);
        const message = `Stopped at once (${outcome.stopped}) before the restore finished: ${path.resolve(options.db)} is the file that was in place or, if its one rename had happened, the backup, never a mix${removed > 0 ? '; the temporary copies it was writing were removed' : ''}.`;
        printFailure('INTERRUPTED', message, options.json);
        context.setExitCode(128 + os.constants.signals[outcome.stopped]);
        return;
      }
      report(outcome.result, options, logger, context);
    });
}

/** Logs and prints a restore's answer, and sets the exit code. */
function report(result: RestoreResult, options: RestoreOptions, logger: Logger, context: CliContext): void {
  if (result.error) logger.error({ code: result.error.code }, result.error.message);
  else
    logger.info(
      {
        restoredFrom: result.restoredFrom,
        keptAt: result.backupPath,
        replacedFileProblem: result.replacedFileProblem,
        backupChecksum: result.backupChecksum,
      },
      result.status,
    );
  // Never in --json's stdout, which stays the one result object.
  if (result.backupChecksumProblem) {
    process.stderr.write(`gao-migrate: warning: ${printable(result.backupChecksumProblem)}\n`);
  }
  if (options.json) printJson(result);
  else if (result.ok) process.stdout.write(describeRestore(result));
  else process.stdout.write(`Error ${result.error?.code}: ${printable(result.error?.message ?? '')}\n`);
  context.setExitCode(result.ok ? ExitCode.OK : ExitCode.FAILED);
}

/**
 * One line on stderr when the backup's name says it was taken of another database (`a.backup_<ts>.db` for
 * `--db b.db`, or a backup beside another project's database): the restore goes on, as databases get renamed and
 * moved, but a mix-up is said before it happens. Never in `--json`'s stdout, which stays the one result object.
 */
function warnIfBackupOfAnotherDatabase(options: RestoreOptions): void {
  const { dbPath, from } = restorePathsOf({ dbPath: options.db, from: options.from });
  const named = otherDatabaseOfBackup(from, [path.resolve(options.db), dbPath]);
  if (!named) return;
  process.stderr.write(
    `gao-migrate: warning: ${printable(from)} is named as a backup of ${printable(named)}, not of ${printable(dbPath)}; going on (a database may have been renamed or moved): make sure it is the backup you mean.\n`,
  );
}

/**
 * Runs the restore on a thread (restore-thread.ts), answering signals meanwhile (see `runSignalledThread`): the lock
 * taken against workers is refreshed by this event loop every second, which a synchronous restore of a large
 * database would block for longer than a worker's stale threshold.
 */
function restoreOffTheEventLoop(input: RestoreInput, logger: Logger) {
  logger.debug('restore started');
  return runSignalledThread<RestoreResult>(new URL('../restore-thread.js', import.meta.url), input, {
    doing: 'restore',
    outcome: input.dryRun ? 'as it was' : 'either as it was or restored, never a mix',
    stopsAfter: 'the step in hand',
    onMessage: (message) => message as RestoreResult,
  });
}

function describeRestore(result: RestoreResult): string {
  const planned = result.status === 'planned';
  const lines = [
    planned
      ? `Would restore ${printable(result.db)} from ${printable(result.restoredFrom)} (dry run: the backup passed its check; nothing was written).`
      : `Restored ${printable(result.db)} from ${printable(result.restoredFrom)}`,
  ];
  if (result.backupPath) {
    lines.push(
      `The file that was in place ${planned ? 'would be' : 'is'} kept at ${printable(result.backupPath)}`,
    );
  }
  if (result.replacedFileProblem?.startsWith('HOT_JOURNAL:') && result.backupPath) {
    // Not damage: a writer stopped mid-transaction. Its copy is sound once SQLite has rolled that back, which needs
    // the journal beside it.
    lines.push(
      `It ${planned ? 'has' : 'had'} an unfinished transaction's journal beside it (HOT_JOURNAL: a writer stopped mid-transaction), so it ${planned ? 'would be' : 'is'} kept byte for byte with that journal, as ${printable(result.backupPath)}-journal: keep the two together, and SQLite rolls the transaction back the first time the copy is opened read-write (gao-migrate verify --db ${printable(result.backupPath)} does), leaving the copy as of its last commit.`,
    );
  } else if (result.replacedFileProblem) {
    lines.push(
      `It ${planned ? 'is' : 'was'} not a sound database (${printable(result.replacedFileProblem)}), so it ${planned ? 'would be' : 'is'} kept byte for byte (with its journal or WAL, if it had one).`,
    );
  }
  return `${lines.join('\n')}\n`;
}
