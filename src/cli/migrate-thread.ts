import { parentPort, workerData } from 'node:worker_threads';
import { Migrator, type RunInput } from '../engine/migrator.js';
import type { Operation, ProgressEvent } from '../engine/types.js';

/** What `gao-migrate up|down|verify` hands its thread. */
export interface MigrateThreadInput {
  op: Operation;
  input: RunInput;
  busyTimeoutMs: number;
}

/** What the thread sends back: progress events, then exactly one result. */
export type MigrateThreadMessage =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'result'; result: ReturnType<Migrator['run']> };

/**
 * `gao-migrate up|down|verify`'s thread: the engine is synchronous, and while it runs the command's event loop must
 * stay free to answer Ctrl-C (SIGINT) or SIGTERM at once, saying what becomes of the database, instead of the
 * process dying mid-transaction with a hot journal and a half-written backup beside the database.
 */
if (!parentPort) throw new Error('migrate-thread.js must run in a worker thread');
const port = parentPort;
const { op, input, busyTimeoutMs } = workerData as MigrateThreadInput;
const send = (message: MigrateThreadMessage) => port.postMessage(message);
const migrator = new Migrator({ busyTimeoutMs, onProgress: (event) => send({ type: 'progress', event }) });
send({ type: 'result', result: migrator.run(op, input) });
