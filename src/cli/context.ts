import type { Logger } from 'pino';

/** What every command gets from the shell: a logger made on first use, and the exit code to end with. */
export interface CliContext {
  logger(): Logger;
  setExitCode(code: number): void;
}
