import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, Queue } from 'bullmq';
import { closeQueue } from '../queue/close-queue.js';
import { connectionOptionsFromUrl, redisUrlFromEnv } from '../queue/connection.js';
import {
  JOB_OF_OPERATION,
  type JobName,
  type JobOperation,
  type JobProgress,
  jobDataSchema,
  type MigrationJobData,
  type MigrationJobResult,
  queueNameFromEnv,
} from '../queue/contract.js';
import { DEFAULT_ATTEMPTS, defaultJobOptions, orderedDeduplicationIdOf } from '../queue/job-options.js';
import { engineResultOfJob } from '../queue/job-result.js';
import {
  changeToFollow,
  isChange,
  type LastChanges,
  lastChangesKeyOf,
  readLastChanges,
  recordChanges,
} from '../queue/last-changes.js';
import { assertRedisReachable, DEFAULT_CONNECT_TIMEOUT_MS } from '../queue/redis-check.js';
import { databaseKeyOf } from './database-key.js';

export interface ProducerOptions {
  /** Default: `REDIS_URL`, else `redis://127.0.0.1:6379`. */
  redisUrl?: string;
  /** Default: `GAO_MIGRATE_QUEUE`, else `migrations`. */
  queueName?: string;
  /** How long to wait for Redis to answer at start, in ms. Default: 3000. */
  connectTimeoutMs?: number;
}

export interface EnqueueOptions {
  /** Migration id. Default: the latest the worker knows. */
  migration?: string;
  /** Checks and plan only. Default: false. */
  dryRun?: boolean;
  /** Attempts for retryable failures (exponential backoff from 1 s). Default: 5. */
  attempts?: number;
}

export interface EnqueuedJob {
  jobId: string;
  name: JobName;
  /** Absolute path, as the job carries it. */
  dbPath: string;
  /**
   * True when a job for the same operation on this database was already waiting or running, with no `up` or `down`
   * of it queued since: that one is returned.
   */
  deduplicated: boolean;
}

export type JobState = 'completed' | 'failed' | 'active' | 'waiting' | 'delayed' | 'prioritized' | 'unknown';

export interface JobOutcome {
  jobId: string;
  dbPath: string;
  state: JobState;
  result: MigrationJobResult | null;
  failedReason: string | null;
  progress: JobProgress | null;
  attemptsMade: number;
}

export interface WaitOptions {
  /** Called after each poll with every job's latest outcome. */
  onUpdate?: (outcomes: readonly JobOutcome[]) => void;
  /** Time between polls, in ms. Default: 250. */
  pollMs?: number;
  /** Give up after this long, in ms (the outcomes then show the jobs still running). Default: no limit. */
  timeoutMs?: number;
}

export interface Producer {
  readonly queue: Queue;
  readonly queueName: string;
  /** One job per database; paths are made absolute against the current directory. */
  enqueue(op: JobOperation, dbPaths: readonly string[], options?: EnqueueOptions): Promise<EnqueuedJob[]>;
  /** The jobs' current state, result and failure. */
  outcomes(jobs: readonly Pick<EnqueuedJob, 'jobId' | 'dbPath'>[]): Promise<JobOutcome[]>;
  /** Polls until every job has completed or failed (for good: a job waiting for a retry is not finished). */
  waitForJobs(
    jobs: readonly Pick<EnqueuedJob, 'jobId' | 'dbPath'>[],
    options?: WaitOptions,
  ): Promise<JobOutcome[]>;
  close(): Promise<void>;
}

/**
 * Connects to Redis (failing fast with `RedisUnavailableError` when it does not answer) and returns a producer.
 *
 * @example
 * const producer = await createProducer({ queueName: 'migrations' });
 * const jobs = await producer.enqueue('up', ['/srv/a/.gao-dev/documents.db']);
 * const outcomes = await producer.waitForJobs(jobs);
 * await producer.close();
 */
export async function createProducer(options: ProducerOptions = {}): Promise<Producer> {
  const redisUrl = options.redisUrl ?? redisUrlFromEnv();
  const queueName = options.queueName ?? queueNameFromEnv();
  const connection = connectionOptionsFromUrl(redisUrl);
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  await assertRedisReachable(redisUrl, connection, connectTimeoutMs);
  // A producer is not a blocking consumer: a command fails after one retry instead of hanging while Redis is away.
  const queue = new Queue(queueName, {
    connection: { ...connection, maxRetriesPerRequest: 1, connectTimeout: connectTimeoutMs },
  });
  queue.on('error', () => {
    // Commands that fail reject their own promises; this only keeps a dropped connection from crashing the process.
  });
  await queue.waitUntilReady();

  const enqueue: Producer['enqueue'] = async (op, dbPaths, enqueueOptions = {}) => {
    const name = JOB_OF_OPERATION[op];
    if (!name) throw new TypeError(`Unknown operation "${String(op)}"; expected up, down or verify.`);
    const attempts = enqueueOptions.attempts ?? DEFAULT_ATTEMPTS;
    if (!Number.isInteger(attempts) || attempts < 1)
      throw new TypeError('attempts must be a whole number of 1 or more.');
    if (op === 'verify' && enqueueOptions.dryRun)
      throw new TypeError(
        'dryRun applies to up and down: a verify job writes nothing already; nothing was enqueued.',
      );
    // Every job's data is checked before the first is added: a bad entry adds nothing rather than part of the list.
    const jobs = dbPaths.map((entry) => jobDataOf(path.resolve(entry), enqueueOptions));
    const seen = new Map<string, EnqueuedJob>();
    const enqueued: EnqueuedJob[] = [];
    const client = await queue.client;
    for (const data of jobs) {
      const { dbPath } = data;
      // One database named two ways (a symlinked directory, another case) is one job and one order: keyed by its
      // real path; the job carries the path as given, which the worker resolves itself.
      const key = databaseKeyOf(dbPath);
      // A request collapses only into a job queued after the last change it must follow (see last-changes.ts).
      const changesKey = lastChangesKeyOf(queue, key);
      const [last] = await readLastChanges(client, [changesKey]);
      const dryRun = data.dryRun === true;
      const after = changeToFollow(last as LastChanges, name, dryRun);
      const deduplicationId = orderedDeduplicationIdOf(name, { ...data, dbPath: key }, after);
      const earlier = seen.get(deduplicationId);
      if (earlier) {
        enqueued.push({ ...earlier, deduplicated: true });
        continue;
      }
      // Only for the `deduplicated` flag: BullMQ itself decides, atomically, and returns the existing job's id.
      const before = await queue.getDeduplicationJobId(deduplicationId);
      const job = await queue.add(name, data, {
        ...defaultJobOptions(attempts),
        deduplication: { id: deduplicationId },
      });
      const entry: EnqueuedJob = {
        jobId: String(job.id),
        name,
        dbPath,
        deduplicated: before !== null && before === job.id,
      };
      if (isChange(name, dryRun) && !entry.deduplicated)
        await recordChanges(client, [changesKey], name, [entry.jobId]);
      seen.set(deduplicationId, entry);
      enqueued.push(entry);
    }
    return enqueued;
  };

  // The state first, then the job: a job read before its state could be 'completed' without its return value.
  const outcomes: Producer['outcomes'] = (jobs) =>
    Promise.all(
      jobs.map(async ({ jobId, dbPath }) => {
        const raw = await queue.getJobState(jobId);
        return outcomeOf(raw, await queue.getJob(jobId), jobId, dbPath);
      }),
    );

  const waitForJobs: Producer['waitForJobs'] = async (jobs, waitOptions = {}) => {
    const pollMs = waitOptions.pollMs ?? 250;
    const deadline = waitOptions.timeoutMs === undefined ? Infinity : Date.now() + waitOptions.timeoutMs;
    for (;;) {
      const latest = await outcomes(jobs);
      waitOptions.onUpdate?.(latest);
      const settled = latest.every((outcome) => isFinished(outcome.state));
      if (settled || Date.now() >= deadline) return latest;
      await sleep(pollMs);
    }
  };

  let closing: Promise<void> | undefined;
  return {
    queue,
    queueName,
    enqueue,
    outcomes,
    waitForJobs,
    close: () => {
      closing ??= closeQueue(queue, 0);
      return closing;
    },
  };
}

/** Completed, failed for good, or gone (removed by its age limit). */
export function isFinished(state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'unknown';
}

function outcomeOf(raw: string, job: Job | undefined, jobId: string, dbPath: string): JobOutcome {
  if (!job) {
    return {
      jobId,
      dbPath,
      state: 'unknown',
      result: null,
      failedReason: null,
      progress: null,
      attemptsMade: 0,
    };
  }
  const state: JobState = ['completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized'].includes(raw)
    ? (raw as JobState)
    : raw === 'waiting-children'
      ? 'waiting'
      : 'unknown';
  const progress =
    typeof job.progress === 'object' && job.progress !== null ? (job.progress as JobProgress) : null;
  return {
    jobId,
    dbPath,
    state,
    result: engineResultOfJob(job, state),
    failedReason: job.failedReason || null,
    progress,
    attemptsMade: job.attemptsMade,
  };
}

/** A job's data, or a `TypeError` in one sentence naming the path and what is wrong with it. */
function jobDataOf(dbPath: string, options: EnqueueOptions): MigrationJobData {
  const parsed = jobDataSchema.safeParse({
    dbPath,
    ...(options.migration !== undefined && { migration: options.migration }),
    ...(options.dryRun && { dryRun: true }),
  });
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => issue.message).join('; ');
  throw new TypeError(
    `Cannot enqueue ${JSON.stringify(dbPath.slice(0, 200))}: ${problems}; nothing was enqueued.`,
  );
}
