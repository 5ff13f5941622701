import { CommanderError } from 'commander';
import type { Logger } from 'pino';
import { isMigrationError } from '../engine/errors.js';
import type { CliContext } from './context.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { createCliLogger, logLevelFromEnv } from './logger.js';
import { describeUnexpectedError, printFailure } from './output.js';
import { buildProgram } from './program.js';

/**
 * Entry point of `gao-migrate`: runs the command, turns every expected error into one sentence with a code and
 * exit 2, and is the only place that ends the process.
 */
export async function main(argv: string[]): Promise<{ exitCode: number; endProcess: boolean }> {
  ignoreClosedPipes();
  let exitCode: number = ExitCode.OK;
  let endProcess = false;
  let logger: Logger | undefined;
  let logLevel = 'info';
  const context: CliContext = {
    logger: () => {
      logger ??= createCliLogger(logLevel);
      return logger;
    },
    setExitCode: (code: number) => {
      exitCode = code;
    },
    endProcessWhenDone: () => {
      endProcess = true;
    },
  };
  try {
    logLevel = logLevelFromEnv();
    await buildProgram(context).parseAsync(argv, { from: 'user' });
    return { exitCode, endProcess };
  } catch (error) {
    return { exitCode: reportError(error, argv.includes('--json')), endProcess };
  }
}

/** Exits once everything written to stdout and stderr has been handed on (a pipe is written asynchronously). */
function exitOnceWritten(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

/**
 * Output piped into a reader that has stopped reading (`gao-migrate fleet … --json | head`) fails with EPIPE; output
 * to a file fails on a full disk (ENOSPC) or a failing one (EIO). What it says can no longer be read, but the
 * command's work is done or under way, and its exit code still tells: the rest of the output is dropped instead of
 * crashing with a stack trace (and exit 1, which says verify found the migration missing), and for a file stderr
 * says so once.
 */
function ignoreClosedPipes(): void {
  let said = false;
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || stream !== process.stdout || said) return;
      said = true;
      process.stderr.write(
        `gao-migrate: Cannot write the output (${error.code ?? 'error'}: ${error.message.replace(/^\w+: /, '')}); the command went on, and its exit code tells how it ended. (IO_ERROR)\n`,
      );
    });
  }
}

function reportError(error: unknown, json: boolean): number {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return ExitCode.OK; // --help, --version
    if (error.code === 'commander.help') {
      // Called without a command: commander has printed the help on stderr; say what was missing.
      return fail('INVALID_INPUT', 'A command is required; see gao-migrate --help.', json);
    }
    // Commander puts its "(Did you mean --glob?)" on a line of its own: one sentence keeps it on the line.
    const message = error.message.replace(/^error:\s*/, '').replace(/\n(?=\(Did you mean )/, ' ');
    return fail('INVALID_INPUT', sentence(message), json);
  }
  if (error instanceof UsageError || isMigrationError(error)) {
    return fail(error.code, error.message, json);
  }
  // A bug, not a user error: keep the stack for the report.
  process.stderr.write(`gao-migrate: unexpected error: ${describeUnexpectedError(error)}\n`);
  return ExitCode.FAILED;
}

function fail(code: string, message: string, json: boolean): number {
  printFailure(code, message, json);
  return ExitCode.FAILED;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  const capitalised = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

const { exitCode, endProcess } = await main(process.argv.slice(2));
process.exitCode = exitCode;
if (endProcess) exitOnceWritten(exitCode);
