import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { printJson } from '../output.js';
import { DEFAULT_DB_PATH } from './options.js';

/** `gao-migrate restore --db PATH --from BACKUP`. */
export function registerRestoreCommand(program: Command, context: CliContext): void {
  program
    .command('restore')
    .description('put a backup in place of a database (checks it, keeps the current file as another backup)')
    .option('--db <path>', 'the database file to replace', DEFAULT_DB_PATH)
    .requiredOption('--from <backup>', 'the backup file to restore')
    .option('--json', 'print one JSON result object on stdout')
    .action(async (options: { db: string; from: string; json?: boolean }) => {
      const { restoreBackup } = await import('../../engine/restore.js');
      const logger = context.logger().child({ op: 'restore', db: options.db });
      const result = restoreBackup({ dbPath: options.db, from: options.from });
      if (result.error) logger.error({ code: result.error.code }, result.error.message);
      else
        logger.info(
          {
            restoredFrom: result.restoredFrom,
            keptAt: result.backupPath,
            replacedFileProblem: result.replacedFileProblem,
          },
          'restored',
        );
      if (options.json) printJson(result);
      else if (result.ok) {
        const damaged = result.replacedFileProblem
          ? `\nIt was not a sound database (${result.replacedFileProblem}), so it is kept byte for byte (with its journal or WAL, if it had one).`
          : '';
        const kept = result.backupPath
          ? `\nThe file that was in place is kept at ${result.backupPath}${damaged}`
          : '';
        process.stdout.write(`Restored ${result.db} from ${result.restoredFrom}${kept}\n`);
      } else process.stdout.write(`Error ${result.error?.code}: ${result.error?.message}\n`);
      context.setExitCode(result.ok ? ExitCode.OK : ExitCode.FAILED);
    });
}
