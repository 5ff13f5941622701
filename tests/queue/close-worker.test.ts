import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { closeWorker } from '../../src/queue/close-worker.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { redisForFile } from '../helpers/redis.js';

const redis = redisForFile();

/**
 * A TCP relay to Redis that holds back Redis's answer to BullMQ's own INFO (its version check, the second INFO
 * after ioredis's ready check) on the worker's blocking connection (the one that names itself with CLIENT
 * SETNAME) until `release()`: that connection is then ready to ioredis but still starting to BullMQ.
 */
async function relayHoldingBlockingStart(redisUrl: string) {
  const target = new URL(redisUrl);
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let heldSocketClosed: () => void = () => {};
  const heldClosed = new Promise<void>((resolve) => {
    heldSocketClosed = resolve;
  });
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    let sent = '';
    let holding = false;
    client.on('data', (chunk) => {
      sent += chunk.toString('latin1');
      holding ||= /SETNAME/i.test(sent) && (sent.match(/\binfo\b/gi)?.length ?? 0) >= 2;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!holding) client.write(chunk);
      else void released.then(() => client.writable && client.write(chunk));
    });
    client.on('close', () => {
      if (holding) heldSocketClosed();
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    release,
    heldClosed,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('closing a worker', () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  afterEach(() => {
    process.removeListener('unhandledRejection', onRejection);
  });

  it('waits for its blocking connection to finish starting, so closing it leaves no unhandled rejection', async () => {
    process.on('unhandledRejection', onRejection);
    const relay = await relayHoldingBlockingStart(redis.url);
    const worker = new Worker(`test-${randomUUID()}`, async () => {}, {
      connection: connectionOptionsFromUrl(relay.url),
      autorun: false,
    });
    worker.on('error', () => {});
    try {
      // BullMQ 5 closing a connection mid-start drops its listeners, then the start fails with "Connection is
      // closed." re-emitted as an 'error' nobody hears (taskforcesh/bullmq#3546): an unhandled rejection.
      setTimeout(() => relay.release(), 300);
      await closeWorker(worker, async () => {}, 10_000);
      await relay.heldClosed;
      await sleep(50);
      expect(rejections.map(String)).toEqual([]);
    } finally {
      relay.release();
      await relay.close();
    }
  });
});
