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

/** Codes with which a `verify` job fails when it only found the migration not applied or drifted. */
const VERIFY_FINDINGS = /^(NOT_APPLIED|VERIFY_DRIFT):/;

/**
 * The exit code of queued work given why each unfinished database did not succeed (a job's failedReason, null
 * for one cancelled or never run): 0 when none is listed; 1 when `verify` only found migrations missing or
 * drifted; 2 otherwise. `enqueue` and `fleet` share it, so the same findings exit the same way.
 */
export function exitCodeOfUnsuccessful(
  op: string,
  reasons: readonly (string | null | undefined)[],
): ExitCode {
  if (reasons.length === 0) return ExitCode.OK;
  const onlyFindings = op === 'verify' && reasons.every((reason) => VERIFY_FINDINGS.test(reason ?? ''));
  return onlyFindings ? ExitCode.VERIFY_FAILED : ExitCode.FAILED;
}

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
