import { DelayedError, type Job, type RedisClient, UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import type { MigrationJobData } from '../queue/contract.js';
import { countRolloutFailure, isRolloutGateClosed, ROLLOUT_HALTED } from '../queue/rollout-gate.js';

/** Where rollouts' failure gates live (see src/queue/rollout-gate.ts). */
export interface RolloutGateAccess {
  client: () => Promise<RedisClient>;
  keyOf: (rolloutId: string) => string;
}

/**
 * Runs a job through its rollout's failure gate: a rollout's database job (not a preflight's dry run) is refused
 * with `ROLLOUT_HALTED` before anything is touched once failures passed `--max-failures` (it counts as cancelled),
 * and its own final failure is counted into the gate before BullMQ records it, so the next job a worker takes sees
 * it; once per job id, as a job whose worker died in between runs and fails again. Without `access`, or for jobs of no rollout, the job simply runs.
 */
export function createRolloutGatekeeper(access: RolloutGateAccess | undefined, logger: Logger) {
  function gateKeyOf(job: Job): string | undefined {
    const data = job.data as Partial<MigrationJobData> | null;
    if (!access || typeof data?.rolloutId !== 'string' || data.dryRun === true) return undefined;
    return access.keyOf(data.rolloutId);
  }

  /** A gate that cannot be read counts as open: the controller's own poll still cancels what has not started. */
  async function isClosed(job: Job, key: string): Promise<boolean> {
    try {
      return await isRolloutGateClosed(await (access as RolloutGateAccess).client(), key);
    } catch (error) {
      logger.warn({ jobId: job.id, err: error }, 'could not read the rollout gate');
      return false;
    }
  }

  /** Best effort: when the count fails, the controller's poll still sees the failure, only later. */
  async function countFailure(job: Job, key: string): Promise<void> {
    try {
      await countRolloutFailure(await (access as RolloutGateAccess).client(), key, String(job.id));
    } catch (error) {
      logger.warn({ jobId: job.id, err: error }, 'could not count the failure in the rollout gate');
    }
  }

  return async function throughGate<T>(job: Job, run: () => Promise<T>): Promise<T> {
    const key = gateKeyOf(job);
    if (key && (await isClosed(job, key))) {
      const rolloutId = (job.data as { rolloutId: string }).rolloutId;
      logger.info({ jobId: job.id, rolloutId, step: 'cancelled' }, 'rollout halted: job not started');
      throw new UnrecoverableError(
        `${ROLLOUT_HALTED}: Rollout ${rolloutId} halted once more databases failed than --max-failures allows, so this one was not started; nothing was changed.`,
      );
    }
    try {
      return await run();
    } catch (error) {
      if (key && isFinalFailure(job, error)) await countFailure(job, key);
      throw error;
    }
  };
}

/** Whether BullMQ fails the job for good on this error (not retryable, or no attempt left). */
function isFinalFailure(job: Job, error: unknown): boolean {
  if (error instanceof UnrecoverableError) return true;
  if (error instanceof DelayedError) return false;
  return job.attemptsMade + 1 >= Math.max(job.opts.attempts ?? 1, 1);
}
