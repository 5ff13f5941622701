import { parentPort, workerData } from 'node:worker_threads';
import { Migrator } from '../engine/migrator.js';
import {
  COMMITTING,
  type MigrateThreadInput,
  type MigrateThreadMessage,
  RUNNING,
} from './migrate-thread-protocol.js';

/**
 * `gao-migrate up|down|verify`'s thread: the engine is synchronous, and while it runs the command's event loop must
 * stay free to answer Ctrl-C (SIGINT) or SIGTERM at once, saying what becomes of the database, instead of the
 * process dying mid-transaction with a hot journal and a half-written backup beside the database.
 */
if (!parentPort) throw new Error('migrate-thread.js must run in a worker thread');
const port = parentPort;
const { op, input, busyTimeoutMs, stopOrCommit } = workerData as MigrateThreadInput;
const send = (message: MigrateThreadMessage) => port.postMessage(message);
const migrator = new Migrator({
  busyTimeoutMs,
  onProgress: (event) => {
    if (event.type === 'step' && event.step === 'commit') {
      // Thrown from the progress listener, the engine rolls the transaction back instead of committing.
      if (Atomics.compareExchange(stopOrCommit, 0, RUNNING, COMMITTING) !== RUNNING) {
        throw new Error('stopped by a signal before COMMIT');
      }
    }
    send({ type: 'progress', event });
  },
});
send({ type: 'result', result: migrator.run(op, input) });
