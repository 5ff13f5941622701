import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { jobStates } from '../../src/fleet/job-states.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { redisForFile } from '../helpers/redis.js';
import { waitFor } from '../queue/helpers.js';

const redis = redisForFile();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function openQueue(): Queue {
  const queue = new Queue(`test-${randomUUID()}`, { connection: connectionOptionsFromUrl(redis.url) });
  cleanups.push(
    () => queue.close(),
    () => queue.obliterate({ force: true }),
  );
  return queue;
}

describe('jobStates', () => {
  it('tells completed, failed, active, waiting (delayed too) and missing jobs apart, in order', async () => {
    const queue = openQueue();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const worker = new Worker(
      queue.name,
      async (job) => {
        if (job.name === 'fail') throw new Error('no');
        if (job.name === 'hold') await held;
        return 'ok';
      },
      { connection: connectionOptionsFromUrl(redis.url), concurrency: 4 },
    );
    cleanups.push(async () => {
      release();
      await worker.close();
    });
    // Ids with a prefix: a job's hash is stored beside BullMQ's own keys, so an id such as 'failed' would clash.
    await queue.add('ok', {}, { jobId: 'job-done' });
    await queue.add('fail', {}, { jobId: 'job-failed', attempts: 1 });
    await queue.add('hold', {}, { jobId: 'job-running' });
    await waitFor(async () => {
      const counts = await queue.getJobCounts('completed', 'failed', 'active');
      return counts.completed === 1 && counts.failed === 1 && counts.active === 1;
    }, 'one job done, one failed, one running');
    // The queue, not the worker, is paused: a worker paused locally may still take a job its last fetch found.
    await queue.pause();
    await queue.add('ok', {}, { jobId: 'job-later', delay: 60_000 });
    await queue.add('ok', {}, { jobId: 'job-waiting' });
    await queue.add('ok', {}, { jobId: 'job-removed' });
    await (await queue.getJob('job-removed'))?.remove();

    expect(
      await jobStates(queue, [
        'job-waiting',
        'job-done',
        'job-running',
        'job-failed',
        'job-later',
        'job-removed',
        'job-never',
      ]),
    ).toEqual(['waiting', 'completed', 'active', 'failed', 'waiting', 'missing', 'missing']);
  });

  it('answers for more jobs than one pipeline carries', async () => {
    const queue = openQueue();
    await queue.pause();
    const ids = Array.from({ length: 12_000 }, (_, index) => `job-${index}`);
    for (let start = 0; start < ids.length; start += 2_000) {
      await queue.addBulk(
        ids.slice(start, start + 2_000).map((jobId) => ({ name: 'ok', data: {}, opts: { jobId } })),
      );
    }
    await (await queue.getJob('job-11999'))?.remove();
    const states = await jobStates(queue, ids);
    expect(states).toHaveLength(12_000);
    expect(states.slice(0, -1).every((state) => state === 'waiting')).toBe(true);
    expect(states.at(-1)).toBe('missing');
  });
});
