import type { Logger } from 'pino';

/** What every command gets from the shell: a logger made on first use, and the exit code to end with. */
export interface CliContext {
  logger(): Logger;
  setExitCode(code: number): void;
  /**
   * Ends the process as soon as the command returns and its output is written, whatever handles libraries still
   * hold: for a command that has closed everything of its own (a worker closed while Redis was away leaves
   * BullMQ's timer of its last blocking call, up to 6 s).
   */
  endProcessWhenDone(): void;
}
