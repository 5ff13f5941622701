/**
 * What one look of the fleet controller at a stage's unfinished jobs costs, against the two ways BullMQ's own
 * API offers, for N waiting jobs (the worst case: BullMQ finds a waiting job by scanning the wait list).
 *
 *   node bench/fleet-poll.mjs [--jobs 2000,5000,20000] [--runs 5]
 *
 * Not part of `npm run bench` (it measures the controller, not a migration). Uses dist/ (`npm run build` first)
 * and a throwaway redis-server. Prints the median and min-max of --runs looks, in ms.
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { finishedStates } from '../dist/fleet/finished-states.js';
import { connectionOptionsFromUrl } from '../dist/queue/connection.js';
import { startLocalRedis } from '../dist/queue/local-redis.js';
import { round, summarize } from './lib/stats.mjs';

const { values: args } = parseArgs({
  options: { jobs: { type: 'string', default: '2000,5000,20000' }, runs: { type: 'string', default: '5' } },
});
const runs = Number(args.runs);
const redis = await startLocalRedis();
try {
  for (const count of args.jobs.split(',').map(Number)) {
    const queue = new Queue(`fleet-poll-${count}`, { connection: connectionOptionsFromUrl(redis.url) });
    await queue.pause();
    const ids = Array.from({ length: count }, (_, index) => `rollout-bench_apply_${index}`);
    for (let start = 0; start < count; start += 1_000) {
      await queue.addBulk(
        ids.slice(start, start + 1_000).map((jobId) => ({
          name: 'migrate-up',
          data: { dbPath: `/projects/${jobId}/.gao-dev/documents.db` },
          opts: { jobId },
        })),
      );
    }
    const ways = {
      'getJob + job.getState': () => Promise.all(ids.map(async (id) => (await queue.getJob(id))?.getState())),
      'queue.getJobState': () => Promise.all(ids.map((id) => queue.getJobState(id))),
      'finishedStates (ours)': () => finishedStates(queue, ids),
    };
    for (const [name, look] of Object.entries(ways)) {
      const times = [];
      for (let run = 0; run < runs; run++) {
        const started = performance.now();
        await look();
        times.push(performance.now() - started);
      }
      const { median, min, max } = summarize(times);
      console.log(
        `${String(count).padStart(6)} waiting jobs  ${name.padEnd(22)} ${round(median)} ms (${round(min)}-${round(max)})`,
      );
    }
    await queue.obliterate({ force: true });
    await queue.close();
  }
} finally {
  await redis.stop();
}
