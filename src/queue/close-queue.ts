import type { Queue } from 'bullmq';
import { hearLateConnectionErrors } from './late-errors.js';

/**
 * Closes a queue once its connection has finished starting, waiting at most `timeoutMs`. BullMQ 5 closing a
 * queue whose connection is still starting removes its listeners, then the start fails with "Connection is
 * closed", which it re-emits as an 'error' nobody listens to: an unhandled rejection (seen when a dashboard was
 * closed right after its first request). Used wherever a queue may be closed soon after it was made.
 */
export async function closeQueue(
  queue: Pick<Queue, 'waitUntilReady' | 'close'>,
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([queue.waitUntilReady().catch(() => {}), waited]);
  clearTimeout(timer);
  await queue.close();
  hearLateConnectionErrors(queue);
}
