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

/** A mistake in how the command was called: one sentence, exit 2, nothing touched. */
export class UsageError extends Error {
  readonly code = 'INVALID_INPUT';

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
