/** Failure thresholds and limits of a rollout's options, kept free of zod so that the CLI parses them cheaply. */

/** Most attempts a rollout's database job may get (`fleet --attempts`). */
export const MAX_ROLLOUT_ATTEMPTS = 100;

/** A number of failed databases, or a share of all of them. */
export type MaxFailures = { count: number } | { percent: number };

/** `5` or `10%` -> a threshold; anything else throws with a sentence for the CLI. */
export function parseMaxFailures(value: string): MaxFailures {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(value.trim());
  if (!match)
    throw new TypeError(
      `--max-failures takes a count (5) or a percentage (10%), not "${value.slice(0, 20)}"`,
    );
  const amount = Number(match[1]);
  if (match[2] === '%') {
    if (amount > 100) throw new TypeError('--max-failures as a percentage must be at most 100%');
    return { percent: amount };
  }
  if (!Number.isInteger(amount)) throw new TypeError('--max-failures as a count must be a whole number');
  // Beyond this, numbers lose their units digit; any count above the number of databases means the same anyway.
  if (!Number.isSafeInteger(amount)) {
    throw new TypeError(`--max-failures as a count must be at most ${Number.MAX_SAFE_INTEGER}`);
  }
  return { count: amount };
}

/** Failures allowed before the rollout halts, for `total` databases. */
export function failureLimit(maxFailures: MaxFailures | undefined, total: number): number {
  if (!maxFailures) return Number.POSITIVE_INFINITY;
  if ('count' in maxFailures) return maxFailures.count;
  return Math.floor((total * maxFailures.percent) / 100);
}
