import type { Command } from 'commander';
import type { Operation, ProgressEvent } from '../../engine/types.js';
import type { CliContext } from '../context.js';
import { exitCodeOf, formatRunResult, printJson } from '../output.js';
import { assertMigrationId, DEFAULT_DB_PATH, parseTimeoutMs } from './options.js';

interface MigrateOptions {
  db: string;
  migration?: string;
  dryRun?: boolean;
  json?: boolean;
  full?: boolean;
  busyTimeout: number;
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
    if (op === 'verify') command.option('--full', 'run the full integrity_check instead of quick_check');
    else command.option('--dry-run', 'run every check and print the plan; write nothing, make no backup');
    command.action((options: MigrateOptions) => runMigrate(op, options, context));
  }
}

async function runMigrate(op: Operation, options: MigrateOptions, context: CliContext): Promise<void> {
  assertMigrationId(options.migration);
  // Loaded here, not at start-up, like every command's heavy modules: `--help` and the other commands skip it.
  const { Migrator } = await import('../../engine/migrator.js');
  const logger = context.logger().child({ op, db: options.db });
  const migrator = new Migrator({
    busyTimeoutMs: options.busyTimeout,
    onProgress: (event) => logProgress(logger, event),
  });
  const result = migrator.run(op, {
    dbPath: options.db,
    migration: options.migration,
    dryRun: options.dryRun === true,
    fullIntegrityCheck: options.full === true,
  });
  const summary = { status: result.status, durationMs: result.durationMs, backupPath: result.backupPath };
  if (result.error) logger.error({ ...summary, code: result.error.code }, result.error.message);
  else logger.info(summary, `migration ${result.migration} ${op}: ${result.status}`);
  if (options.json) printJson(result);
  else process.stdout.write(formatRunResult(result));
  context.setExitCode(exitCodeOf(result));
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
