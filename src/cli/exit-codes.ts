/** Exit codes of `gao-migrate`: scripts and the queue rely on them. */
export const ExitCode = {
  /** Done, or nothing to do. */
  OK: 0,
  /** `verify` found the migration not applied or drifted. */
  VERIFY_FAILED: 1,
  /** Bad input, a failed precondition or a failed migration; nothing was changed. */
  FAILED: 2,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A mistake in how the command was called or configured: one sentence, exit 2, nothing touched. The code is
 * `INVALID_INPUT` unless a more precise stable one applies (`REDIS_REFUSED`).
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly code = 'INVALID_INPUT',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
