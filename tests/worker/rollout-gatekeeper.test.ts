import { randomUUID } from 'node:crypto';
import { Job, Queue, UnrecoverableError } from 'bullmq';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { isRolloutGateClosed, openRolloutGate, rolloutGateKey } from '../../src/queue/rollout-gate.js';
import { createRolloutGatekeeper } from '../../src/worker/rollout-gatekeeper.js';
import { redisForFile } from '../helpers/redis.js';

const redis = redisForFile();
let queue: Queue;

beforeEach(() => {
  queue = new Queue(`test-${randomUUID()}`, { connection: connectionOptionsFromUrl(redis.url) });
});
afterEach(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
});

describe('rollout gatekeeper', () => {
  it('counts a job that fails for good once, even when it runs again after its worker died before BullMQ recorded the failure', async () => {
    const rolloutId = 'rollout-twice';
    const key = rolloutGateKey(queue, rolloutId);
    const client = await queue.client;
    await openRolloutGate(client, key, 1);
    const throughGate = createRolloutGatekeeper(
      { client: () => queue.client, keyOf: (id) => rolloutGateKey(queue, id) },
      pino({ level: 'silent' }),
    );
    const add = async (index: number) => {
      const added = await queue.add(
        'migrate-up',
        { dbPath: `/srv/p${index}/.gao-dev/documents.db`, rolloutId },
        { jobId: `${rolloutId}_apply_${index}`, attempts: 1 },
      );
      return (await Job.fromId(queue, added.id as string)) as Job;
    };
    const fails = () => Promise.reject(new UnrecoverableError('NOT_A_DATABASE: not a database'));

    const first = await add(0);
    await expect(throughGate(first, fails)).rejects.toThrow('NOT_A_DATABASE');
    // Its worker was killed before BullMQ moved the job to failed: the job stalled, and another worker runs it
    // again (a stall leaves attemptsMade as it was), and it fails for good again.
    const rerun = (await Job.fromId(queue, first.id as string)) as Job;
    await expect(throughGate(rerun, fails)).rejects.toThrow('NOT_A_DATABASE');

    // One database failed, the one --max-failures 1 allows: the gate stays open.
    expect(await isRolloutGateClosed(client, key)).toBe(false);
    await expect(throughGate(await add(1), fails)).rejects.toThrow('NOT_A_DATABASE');
    expect(await isRolloutGateClosed(client, key)).toBe(true);
  });
});
