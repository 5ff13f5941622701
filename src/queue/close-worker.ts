import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'bullmq';
import { hearLateConnectionErrors } from './late-errors.js';

/** How long Redis has to answer a PING before a closing worker treats it as away. */
export const REDIS_ANSWER_TIMEOUT_MS = 1_000;

/**
 * Closes a BullMQ worker without hanging on a Redis that is away. BullMQ's graceful close waits for its main loop,
 * which keeps retrying until Redis answers again, so it never returns while Redis is down
 * (taskforcesh/bullmq#4656); its forced close returns at once but does not wait for the job in hand.
 *
 * So: take no new job, wait for `localWorkDone` (what must not be cut short and needs no Redis: a file lock, the
 * engine), then close gracefully when Redis answers (the job's result is reported) or forced when it does not
 * (the job stays active in Redis and is run again, once its lock expires, by whichever worker takes it).
 *
 * Redis answers once both the worker's connections have started, its blocking one too: BullMQ 5 closing a
 * connection still starting (ready to ioredis, its version check unanswered) drops its listeners, then that start
 * fails with "Connection is closed.", re-emitted as an 'error' nobody hears: an unhandled rejection
 * (taskforcesh/bullmq#3546), seen when a worker or rollout controller was closed just after it was started.
 */
export async function closeWorker(
  worker: Worker,
  localWorkDone: () => Promise<void> = async () => {},
  answerTimeoutMs = REDIS_ANSWER_TIMEOUT_MS,
): Promise<void> {
  await worker.pause(true);
  await localWorkDone();
  await worker.close(!(await redisAnswers(worker, answerTimeoutMs)));
  hearLateConnectionErrors(worker);
}

/** Whether the worker's connections have started, its own is up and Redis answers a PING within `timeoutMs`. */
async function redisAnswers(worker: Worker, timeoutMs: number): Promise<boolean> {
  // `waitUntilReady` resolves once the blocking connection has started too; `client` is the worker's own.
  const started = worker.waitUntilReady().then(() => worker.client);
  const client = await Promise.race([started, sleep(timeoutMs, null, { ref: false })]).catch(() => null);
  if (client?.status !== 'ready') return false;
  // BullMQ's client type leaves PING out; the client it makes from connection options is ioredis, which has it.
  const answered = (client as typeof client & { ping(): Promise<string> }).ping().then(
    () => true,
    () => false,
  );
  return Promise.race([answered, sleep(timeoutMs, false, { ref: false })]);
}
