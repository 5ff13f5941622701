import { describe, expect, it } from 'vitest';
import { ErrorCode, RETRYABLE_CODES } from '../../src/engine/errors.js';
import { isRetryableCode, QUEUE_RETRYABLE_CODES } from '../../src/queue/retryable.js';

describe('isRetryableCode', () => {
  it("answers true for the engine's retryable codes and the queue's own", () => {
    for (const code of RETRYABLE_CODES) expect(isRetryableCode(code)).toBe(true);
    expect([...QUEUE_RETRYABLE_CODES].sort()).toEqual(['ENGINE_THREAD_FAILED', 'FILE_LOCK_HELD']);
    expect(isRetryableCode('FILE_LOCK_HELD')).toBe(true);
    expect(isRetryableCode('ENGINE_THREAD_FAILED')).toBe(true);
  });

  it('answers false for every other code, known or not', () => {
    for (const code of Object.values(ErrorCode)) {
      if (!RETRYABLE_CODES.has(code)) expect(isRetryableCode(code)).toBe(false);
    }
    expect(isRetryableCode('INVALID_INPUT')).toBe(false);
    expect(isRetryableCode('REDIS_UNAVAILABLE')).toBe(false);
    expect(isRetryableCode('NOT_A_CODE')).toBe(false);
  });
});
