import type { Queue } from 'bullmq';

/** What a rollout stage needs to know of one of its jobs. */
export type FinishedState = 'completed' | 'failed' | 'unfinished' | 'missing';

/** Jobs looked up per round trip (three commands each). */
const PIPELINE_JOBS = 5_000;

/**
 * Whether each job has finished, for many jobs at once: per job, the two sorted-set lookups BullMQ's own
 * `Job.isCompleted()` and `Job.isFailed()` make (ZSCORE), and whether its hash still exists, pipelined.
 * `Queue.getJobState` would also look for a waiting job by scanning the wait list (LPOS), so polling N waiting
 * jobs that way costs O(N²): 3.5 s for 20,000 waiting jobs on the benchmark machine, against 0.25 s for this.
 * A job that no longer exists (removed by hand) is `missing`: finished, neither done nor failed.
 */
export async function finishedStates(queue: Queue, jobIds: readonly string[]): Promise<FinishedState[]> {
  const client = await queue.client;
  const completedKey = queue.toKey('completed');
  const failedKey = queue.toKey('failed');
  const states: FinishedState[] = [];
  for (let start = 0; start < jobIds.length; start += PIPELINE_JOBS) {
    const ids = jobIds.slice(start, start + PIPELINE_JOBS);
    const pipeline = client.pipeline();
    for (const id of ids) {
      pipeline
        .runCommand('zscore', [completedKey, id])
        .runCommand('zscore', [failedKey, id])
        .runCommand('exists', [queue.toKey(id)]);
    }
    const replies = (await pipeline.exec()) ?? [];
    ids.forEach((_, index) => {
      const [completed, failed, exists] = replies.slice(index * 3, index * 3 + 3).map(([error, value]) => {
        if (error) throw error;
        return value;
      });
      if (completed !== null) states.push('completed');
      else if (failed !== null) states.push('failed');
      else states.push(exists === 1 ? 'unfinished' : 'missing');
    });
  }
  return states;
}
