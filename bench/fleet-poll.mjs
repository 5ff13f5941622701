/**
 * What one look of the fleet controller at a stage's unfinished jobs costs, against the two ways BullMQ's own
 * API offers, for N waiting jobs (the worst case: BullMQ finds a waiting job by scanning the wait list); and one
 * rollout report over the same jobs.
 *
 *   node bench/fleet-poll.mjs [--jobs 2000,5000,20000] [--runs 5]
 *
 * Not part of `npm run bench` (it measures the controller, not a migration). Uses dist/ (`npm run build` first)
 * and a throwaway redis-server. Prints the median and min-max of --runs looks, in ms.
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { jobStates } from '../dist/fleet/job-states.js';
import { collectReport } from '../dist/fleet/report.js';
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
    const rollout = {
      rolloutId: 'rollout-bench',
      op: 'up',
      targets: ids.map((jobId) => `/projects/${jobId}/.gao-dev/documents.db`),
      preflight: false,
      canary: 0,
      attempts: 5,
      createdAt: new Date().toISOString(),
    };
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
      'jobStates (ours)': () => jobStates(queue, ids),
      // The whole report (`gao-migrate status`, `fleet --wait`, the dashboard's /fleet page), which before this
      // change was getJob + job.getState per database.
      'collectReport (ours)': () => collectReport(queue, rollout, {}, 'running'),
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
        `${String(count).padStart(6)} waiting jobs  ${name.padEnd(24)} ${round(median)} ms (${round(min)}-${round(max)})`,
      );
    }
    await queue.obliterate({ force: true });
    await queue.close();
  }
} finally {
  await redis.stop();
}
