import { parentPort } from 'node:worker_threads';
import { Migrator } from '../engine/migrator.js';
import type { ProgressEvent } from '../engine/types.js';
import type { EngineReply, EngineRequest } from './engine-protocol.js';

/**
 * The engine's thread: runs one synchronous migration at a time so that the worker's event loop stays free to
 * renew BullMQ's job lock and the file lock. Statement events are not forwarded: steps are what jobs report.
 */
if (!parentPort) throw new Error('engine-thread.js must run in a worker thread');
const port = parentPort;

port.on('message', (request: EngineRequest) => {
  const send = (reply: EngineReply) => port.postMessage(reply);
  const onProgress = (event: ProgressEvent) => {
    if (event.type !== 'statement') send({ id: request.id, type: 'progress', event });
  };
  const migrator = new Migrator({ busyTimeoutMs: request.busyTimeoutMs, onProgress });
  const result = migrator.run(request.op, request.input);
  send({ id: request.id, type: 'result', result });
});
