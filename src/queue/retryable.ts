import { RETRYABLE_CODES } from '../engine/errors.js';

/**
 * The codes the queue adds around the engine that are worth another attempt: `FILE_LOCK_HELD` (another job or
 * command holds `<db>.lock`) and `ENGINE_THREAD_FAILED` (the engine's thread died mid-run; SQLite rolls back).
 */
export const QUEUE_RETRYABLE_CODES: ReadonlySet<string> = new Set(['FILE_LOCK_HELD', 'ENGINE_THREAD_FAILED']);

/**
 * Whether a failure with this stable code, the engine's (`RETRYABLE_CODES`) or the queue's, can succeed later
 * without anyone changing anything. The one rule the worker's retries, every `retryable` in `--json` and the
 * README's table follow.
 */
export function isRetryableCode(code: string): boolean {
  return (RETRYABLE_CODES as ReadonlySet<string>).has(code) || QUEUE_RETRYABLE_CODES.has(code);
}
