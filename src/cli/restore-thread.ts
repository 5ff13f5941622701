import { parentPort, workerData } from 'node:worker_threads';
import { type RestoreInput, restoreBackup } from '../engine/restore.js';

/**
 * `gao-migrate restore`'s thread: the restore is synchronous (SQLite, copies of a whole database), and while it
 * runs the command's event loop must stay free to refresh the `<db>.lock` it holds every second, or a worker
 * would take the lock for abandoned and migrate the file being replaced.
 */
if (!parentPort) throw new Error('restore-thread.js must run in a worker thread');
parentPort.postMessage(restoreBackup(workerData as RestoreInput));
