import { Command } from 'commander';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerEnqueueCommand } from './commands/enqueue.js';
import { registerFleetCommands } from './commands/fleet.js';
import { registerMigrateCommands } from './commands/migrate.js';
import { registerRestoreCommand } from './commands/restore.js';
import { registerWorkerCommand } from './commands/worker.js';
import type { CliContext } from './context.js';

export const VERSION = '0.1.0';

/** The `gao-migrate` command tree. Commands print and set the exit code; only main.ts exits. */
export function buildProgram(context: CliContext): Command {
  const program = new Command('gao-migrate')
    .description(
      'Safe SQLite schema migrations for gao-dev project databases, one at a time or as a fleet over Redis.',
    )
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  registerMigrateCommands(program, context);
  registerRestoreCommand(program, context);
  registerWorkerCommand(program, context);
  registerEnqueueCommand(program, context);
  registerFleetCommands(program, context);
  registerDashboardCommand(program, context);
  for (const command of program.commands) command.exitOverride().configureOutput({ outputError: () => {} });
  return program;
}
