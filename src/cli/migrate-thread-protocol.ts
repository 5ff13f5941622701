import type { Migrator, RunInput } from '../engine/migrator.js';
import type { Operation, ProgressEvent } from '../engine/types.js';

/* What `gao-migrate up|down|verify` and its thread (migrate-thread.ts) say to each other. */

/** What `gao-migrate up|down|verify` hands its thread. */
export interface MigrateThreadInput {
  op: Operation;
  input: RunInput;
  busyTimeoutMs: number;
  /**
   * One Int32 shared with the command, `RUNNING` until one side claims it: the thread sets `COMMITTING` as its
   * run reaches COMMIT, the command `STOPPING` on a second signal. Whoever claims it first decides: a run the
   * command stops never commits, and a run that commits is never reported stopped.
   */
  stopOrCommit: Int32Array;
}

export const RUNNING = 0;
export const COMMITTING = 1;
export const STOPPING = 2;

/** What the thread sends back: progress events, then exactly one result. */
export type MigrateThreadMessage =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'result'; result: ReturnType<Migrator['run']> };
