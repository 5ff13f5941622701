import { EventEmitter } from 'node:events';

/**
 * Gives the connections of a closed BullMQ queue or worker a listener for errors that come after `close()`.
 *
 * BullMQ 5 (5.81) starts each connection in its constructor and re-emits a failed start as an 'error' on it; its
 * `close()` removes every listener. A start still under way then can fail later: a reconnection attempt in flight
 * when Redis had refused before ends once its socket does, and BullMQ rejects the start with the last connect error
 * (`connect ECONNREFUSED …`). With nobody listening, that 'error' is an unhandled rejection, which ends a process
 * (seen closing a dashboard whose Redis refused; taskforcesh/bullmq#3546 is the same mechanism). Called right after
 * `close()` returns, before any socket event can arrive; nothing is left to report by then.
 */
export function hearLateConnectionErrors(closed: object): void {
  for (const field of ['connection', 'blockingConnection']) {
    const connection = (closed as Record<string, unknown>)[field];
    if (connection instanceof EventEmitter && connection.listenerCount('error') === 0) {
      connection.on('error', () => {
        // The queue or worker is closed: its connection's late failure concerns no one.
      });
    }
  }
}
