import type { Queue } from 'bullmq';

/**
 * Where a job stands, as a rollout sees it. `waiting` is every state of a job that exists and has neither
 * started nor finished (waiting, delayed, prioritized, paused); `missing`, a job that does not exist (never
 * added, or removed).
 */
export type JobStanding = 'completed' | 'failed' | 'active' | 'waiting' | 'missing';

/** Jobs looked up per round trip (four commands each). */
const PIPELINE_JOBS = 5_000;

/**
 * Where each of many jobs stands, pipelined: per job, the two sorted-set lookups of BullMQ's own
 * `Job.isCompleted()` and `Job.isFailed()` (ZSCORE), its place in the active list (LPOS over the jobs being run,
 * as many as there are workers), and whether its hash exists. `Queue.getJobState` would also look for a waiting
 * job by scanning the whole wait list, so following N waiting jobs that way costs O(N²): about 3 s for 20,000
 * waiting jobs on the benchmark machine, against about 0.5 s for this (`node bench/fleet-poll.mjs`).
 */
export async function jobStates(queue: Queue, jobIds: readonly string[]): Promise<JobStanding[]> {
  const client = await queue.client;
  const keys = {
    completed: queue.toKey('completed'),
    failed: queue.toKey('failed'),
    active: queue.toKey('active'),
  };
  const states: JobStanding[] = [];
  for (let start = 0; start < jobIds.length; start += PIPELINE_JOBS) {
    const ids = jobIds.slice(start, start + PIPELINE_JOBS);
    const pipeline = client.pipeline();
    for (const id of ids) {
      pipeline
        .runCommand('zscore', [keys.completed, id])
        .runCommand('zscore', [keys.failed, id])
        .runCommand('lpos', [keys.active, id])
        .runCommand('exists', [queue.toKey(id)]);
    }
    const replies = (await pipeline.exec()) ?? [];
    ids.forEach((_, index) => {
      const [completed, failed, active, exists] = replies
        .slice(index * 4, index * 4 + 4)
        .map(([error, value]) => {
          if (error) throw error;
          return value;
        });
      if (completed !== null) states.push('completed');
      else if (failed !== null) states.push('failed');
      else if (active !== null) states.push('active');
      else states.push(exists === 1 ? 'waiting' : 'missing');
    });
  }
  return states;
}

/** The failedReason of each of the given jobs (null for a job without one), pipelined. */
export async function failedReasons(queue: Queue, jobIds: readonly string[]): Promise<(string | null)[]> {
  if (jobIds.length === 0) return [];
  const client = await queue.client;
  const pipeline = client.pipeline();
  for (const id of jobIds) pipeline.runCommand('hget', [queue.toKey(id), 'failedReason']);
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, value]) => {
    if (error) throw error;
    return typeof value === 'string' ? value : null;
  });
}
