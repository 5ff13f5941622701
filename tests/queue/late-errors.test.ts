import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { closeQueue } from '../../src/queue/close-queue.js';
import { freePort } from '../../src/queue/local-redis.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('hearLateConnectionErrors, through closeQueue', () => {
  it('leaves no unhandled rejection when a connection start fails after the queue was closed', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => process.removeListener('unhandledRejection', onUnhandled));

    // Redis refuses first (the start remembers ECONNREFUSED), then a reconnection reaches a server that takes the
    // connection and never answers: the start is still under way when the queue is closed.
    const port = await freePort();
    const queue = new Queue(`test-late-${port}`, {
      connection: { host: '127.0.0.1', port, retryStrategy: () => 50, maxRetriesPerRequest: 1 },
    });
    const refused = new Promise((resolve) => queue.once('error', resolve));
    await refused;
    const sockets: net.Socket[] = [];
    const accepted = new Promise<void>((resolve) => {
      const server = net.createServer((socket) => {
        sockets.push(socket);
        resolve();
      });
      server.listen(port, '127.0.0.1');
      cleanups.push(() => server.close());
    });
    await accepted;

    await closeQueue(queue, 100);
    // The server lets go: the socket ends, and BullMQ fails the start with the ECONNREFUSED it remembered.
    const closed = sockets.map((socket) => new Promise((resolve) => socket.once('close', resolve)));
    for (const socket of sockets) socket.destroy();
    await Promise.all(closed);
    await sleep(100);
    expect(unhandled).toEqual([]);
  });
});
