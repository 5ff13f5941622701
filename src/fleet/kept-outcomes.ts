import type { Queue } from 'bullmq';
import type { DiscardedData } from '../engine/types.js';
import { engineResultOfJob } from '../queue/job-result.js';
import { wasRefusedByGate } from '../queue/rollout-gate.js';
import { type JobStanding, jobStates } from './job-states.js';
import { KEPT_OUTCOMES_REFRESH_MS, KEPT_OUTCOMES_TTL_SECONDS } from './retention.js';
import { childJobId, type RolloutData, type Stage } from './rollout.js';

/**
 * BullMQ trims a queue's whole completed (failed) set whenever a job with `removeOnComplete` (`removeOnFail`)
 * finishes, whatever the options of the jobs it removes: a week after a rollout, the first `enqueue` job to finish
 * removes the rollout's database jobs, and a service's `removeOnComplete: { count: N }` does so at once. So the
 * controller keeps each finished database job's outcome, as it sees it finish, in a hash of the rollout's own
 * (`<prefix>:<queue>:rollout-outcomes:<rolloutId>`, field: the target's index), kept a day longer than the rollout's
 * job (see retention.ts): it expires `KEPT_OUTCOMES_TTL_SECONDS` after a controller last wrote it or, while one
 * drives the rollout, looked at it. A job that exists again (`retry --failed`) is read live; a missing one reads as
 * its kept outcome.
 */

/** How a database's job finished, as the report shows it. */
export interface KeptOutcome {
  stage: Stage;
  jobId: string;
  /** Where its job ended. */
  state: 'completed' | 'failed';
  backupPath: string | null;
  /** Backups its job's earlier attempts kept (see `MigrationJobResult.earlierBackups`); absent if kept before them. */
  earlierBackups?: string[];
  durationMs: number | null;
  /** Its job's failedReason when it failed. */
  error: string | null;
  /** What its job dropped, or for a preflight's dry run would drop (only entries with rows). */
  discarded: DiscardedData[];
}

/** Beside the rollout's gate, in the migrations queue's namespace (job ids cannot contain ":"). */
export function keptOutcomesKey(queue: { toKey(type: string): string }, rolloutId: string): string {
  return queue.toKey(`rollout-outcomes:${rolloutId}`);
}

const parsed = (value: unknown): unknown => {
  if (typeof value !== 'string') return null;
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
};

/** The kept outcomes of the databases at these indexes (null where none is kept), in one HMGET. */
export async function readKeptOutcomes(
  queue: Queue,
  rolloutId: string,
  indexes: readonly number[],
): Promise<(KeptOutcome | null)[]> {
  if (indexes.length === 0) return [];
  const client = await queue.client;
  const values = await client.hmget(keptOutcomesKey(queue, rolloutId), ...indexes.map(String));
  return values.map((value) => parsed(value) as KeptOutcome | null);
}

/** Removes a rollout's kept outcomes: for whoever removes its rollout job (BullMQ's obliterate leaves them). */
export async function removeKeptOutcomes(queue: Queue, rolloutId: string): Promise<void> {
  await (await queue.client).del(keptOutcomesKey(queue, rolloutId));
}

/**
 * What one controller knows it kept, loaded from Redis when it takes the rollout: the database jobs' states are
 * read through it, so that a job trimmed after it finished reads as it finished, not as removed by hand.
 */
export class OutcomeKeeper {
  /** When this keeper last pushed the hash's expiry back (`performance.now()`). */
  private refreshedAt: number;

  private constructor(
    private readonly queue: Queue,
    private readonly data: RolloutData,
    private readonly kept: Map<number, KeptOutcome>,
    private readonly refreshMs: number,
  ) {
    this.refreshedAt = performance.now();
  }

  /**
   * One HGETALL: what earlier controllers of the rollout kept (nothing, for a rollout that starts); the hash's
   * expiry is pushed back at once, as a rollout taken up again (resumed, handed over) is active again, then every
   * `refreshMs` while it is driven (default `KEPT_OUTCOMES_REFRESH_MS`).
   */
  static async load(
    queue: Queue,
    data: RolloutData,
    refreshMs = KEPT_OUTCOMES_REFRESH_MS,
  ): Promise<OutcomeKeeper> {
    const client = await queue.client;
    const key = keptOutcomesKey(queue, data.rolloutId);
    const fields = await client.hgetall(key);
    await client.runCommand('expire', [key, KEPT_OUTCOMES_TTL_SECONDS]);
    const kept = new Map<number, KeptOutcome>();
    for (const [field, value] of Object.entries(fields)) {
      const outcome = parsed(value) as KeptOutcome | null;
      if (outcome) kept.set(Number(field), outcome);
    }
    return new OutcomeKeeper(queue, data, kept, refreshMs);
  }

  /** Pushes the hash's expiry back, at most every `refreshMs`, while its rollout is driven. */
  private async refreshExpiry(): Promise<void> {
    if (performance.now() - this.refreshedAt < this.refreshMs) return;
    this.refreshedAt = performance.now();
    const client = await this.queue.client;
    await client.runCommand('expire', [
      keptOutcomesKey(this.queue, this.data.rolloutId),
      KEPT_OUTCOMES_TTL_SECONDS,
    ]);
  }

  /**
   * Where the stage's jobs at these indexes stand (`jobStates`), a missing job whose outcome in this stage was kept
   * reading as it finished. Jobs seen finished for the first time have their outcome kept first: one pipelined read
   * of their results and one write, only in a look where some finished.
   */
  async states(stage: Stage, indexes: readonly number[]): Promise<JobStanding[]> {
    const ids = indexes.map((index) => childJobId(this.data.rolloutId, stage, index));
    const states = await jobStates(this.queue, ids);
    await this.refreshExpiry();
    const fresh: number[] = [];
    states.forEach((state, position) => {
      const index = indexes[position] as number;
      const known = this.kept.get(index);
      const same = known?.stage === stage;
      if ((state === 'completed' || state === 'failed') && !(same && known?.state === state)) {
        fresh.push(position);
      } else if ((state === 'waiting' || state === 'active') && same) {
        // Retried: its next ending is kept again, with its own result.
        this.kept.delete(index);
      }
    });
    if (fresh.length > 0) {
      await this.keep(
        stage,
        fresh.map((position) => indexes[position] as number),
        fresh.map((position) => states[position] as 'completed' | 'failed'),
      );
    }
    return states.map((state, position) => {
      if (state !== 'missing') return state;
      const known = this.kept.get(indexes[position] as number);
      return known?.stage === stage ? known.state : state;
    });
  }

  /** Whether the kept outcome of this job says the rollout's gate refused it (it counts as cancelled). */
  wasRefused(stage: Stage, index: number): boolean {
    const known = this.kept.get(index);
    return known?.stage === stage && known.state === 'failed' && wasRefusedByGate(known.error);
  }

  private async keep(
    stage: Stage,
    indexes: readonly number[],
    states: readonly ('completed' | 'failed')[],
  ): Promise<void> {
    const client = await this.queue.client;
    const ids = indexes.map((index) => childJobId(this.data.rolloutId, stage, index));
    const reads = client.pipeline();
    for (const id of ids)
      reads.runCommand('hmget', [this.queue.toKey(id), 'returnvalue', 'progress', 'failedReason']);
    const replies = (await reads.exec()) ?? [];
    const write: Record<string, string> = {};
    indexes.forEach((index, position) => {
      const [error, value] = replies[position] ?? [null, null];
      if (error) throw error;
      // All null when it was trimmed between the look and this read: how it ended is still known, not its result.
      const [returnvalue, progress, failedReason] = (value ?? []) as (string | null)[];
      const state = states[position] as 'completed' | 'failed';
      const result = engineResultOfJob(
        { returnvalue: parsed(returnvalue), progress: parsed(progress) },
        state,
      );
      const outcome: KeptOutcome = {
        stage,
        jobId: ids[position] as string,
        state,
        backupPath: result?.backupPath ?? null,
        earlierBackups: result?.earlierBackups ?? [],
        durationMs: result?.durationMs ?? null,
        error: state === 'failed' ? (failedReason ?? 'failed') : null,
        discarded: (result?.discarded ?? []).filter((item) => item.rows > 0),
      };
      this.kept.set(index, outcome);
      write[String(index)] = JSON.stringify(outcome);
    });
    if (Object.keys(write).length > 0) {
      const key = keptOutcomesKey(this.queue, this.data.rolloutId);
      const replies = await client
        .multi()
        .hset(key, write)
        .runCommand('expire', [key, KEPT_OUTCOMES_TTL_SECONDS])
        .exec();
      const refused = replies?.find(([error]) => error);
      if (refused) throw refused[0];
      this.refreshedAt = performance.now();
    }
  }
}
