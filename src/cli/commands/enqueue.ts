import path from 'node:path';
import { Argument, type Command } from 'commander';
import type { JobOutcome, Producer } from '../../producer/producer.js';
import type { JobOperation } from '../../queue/contract.js';
import { printable } from '../../queue/printable.js';
import type { CliContext } from '../context.js';
import { ExitCode, exitCodeOfUnsuccessful } from '../exit-codes.js';
import {
  describeDiscardedAcross,
  describeEarlierBackups,
  printFailure,
  printJson,
  sayLeftOutBackups,
  sayNoWorker,
} from '../output.js';
import { isRedisConnectionError, lostRedis } from '../redis-connection.js';
import { formatTable } from '../table.js';
import { collect, collectDatabases } from '../targets.js';
import { assertMigrationId, assertNotDryRunOfVerify, parsePositiveInt, queueNameOf } from './options.js';

interface EnqueueCliOptions {
  db: string[];
  glob: string[];
  fromFile: string[];
  migration?: string;
  dryRun?: boolean;
  attempts: number;
  queue?: string;
  wait?: boolean;
  json?: boolean;
}

/** `gao-migrate enqueue up|down|verify`: one job per database on the queue; `--wait` follows them. */
export function registerEnqueueCommand(program: Command, context: CliContext): void {
  program
    .command('enqueue')
    .description('add one migration job per database to the Redis queue (the same job is never queued twice)')
    .addArgument(new Argument('<op>', 'operation').choices(['up', 'down', 'verify']))
    .option('--db <path>', 'a database file (repeatable)', collect, [])
    .option(
      '--glob <pattern>',
      'database files matching a pattern with *, ? and ** (repeatable)',
      collect,
      [],
    )
    .option(
      '--from-file <list>',
      'a file listing one database path per line; a line starting with # is a comment',
      collect,
      [],
    )
    .option('--migration <id>', 'migration id (default: the latest, 006)')
    .option('--dry-run', 'checks and plan only: nothing written, no backup')
    .option(
      '--attempts <n>',
      'attempts for retryable failures, with exponential backoff',
      parsePositiveInt,
      5,
    )
    .option('--queue <name>', 'queue name (default: GAO_MIGRATE_QUEUE, else migrations)')
    .option('--wait', 'follow the jobs to the end, then print a summary')
    .option('--json', 'print one JSON object { jobs, completed, failed, leftOutBackups } on stdout')
    .action((op: JobOperation, options: EnqueueCliOptions) => runEnqueue(op, options, context));
}

async function runEnqueue(op: JobOperation, options: EnqueueCliOptions, context: CliContext): Promise<void> {
  assertMigrationId(options.migration);
  assertNotDryRunOfVerify(op, '--dry-run', options.dryRun === true);
  const queueName = queueNameOf(options.queue);
  const { databases: dbPaths, leftOutBackups } = await collectDatabases(op, options);
  sayLeftOutBackups(op, leftOutBackups);
  // Loaded here, not at start-up: `up`, `down` and `verify` never pay for BullMQ.
  const [{ createProducer }, { RedisUnavailableError }] = await Promise.all([
    import('../../producer/producer.js'),
    import('../../queue/redis-check.js'),
  ]);
  let producer: Producer;
  try {
    producer = await createProducer({ queueName });
  } catch (error) {
    if (error instanceof RedisUnavailableError || error instanceof TypeError) {
      return fail(
        context,
        error instanceof RedisUnavailableError ? error.code : 'INVALID_INPUT',
        error.message,
        options.json,
      );
    }
    throw error;
  }
  try {
    const jobs = await producer.enqueue(op, dbPaths, {
      migration: options.migration,
      dryRun: options.dryRun === true,
      attempts: options.attempts,
    });
    context.logger().info(
      {
        queue: producer.queueName,
        jobs: jobs.length,
        deduplicated: jobs.filter((job) => job.deduplicated).length,
        leftOutBackups: leftOutBackups.length,
      },
      'jobs queued',
    );
    if (options.wait) await sayWhenNoWorker(producer);
    const outcomes = options.wait
      ? await follow(producer, jobs, options.json === true)
      : await producer.outcomes(jobs);
    const completed = outcomes.filter((outcome) => outcome.state === 'completed').length;
    const failed = outcomes.filter((outcome) => outcome.state === 'failed').length;
    // Without --wait too: jobs that no worker will take should not look merely slow.
    if (!options.wait && completed + failed < outcomes.length) await sayWhenNoWorker(producer);
    if (options.json) {
      printJson({
        jobs: outcomes.map(({ jobId, dbPath, state, result, failedReason }) => ({
          jobId,
          dbPath,
          state,
          result,
          failedReason,
        })),
        completed,
        failed,
        leftOutBackups,
      });
    } else if (options.wait) {
      process.stdout.write(formatSummary(outcomes, completed, failed, { dryRun: options.dryRun === true }));
    } else {
      const lines = jobs.map(
        (job) =>
          `${printable(job.jobId)}\t${printable(job.dbPath)}${job.deduplicated ? '\t(already queued)' : ''}`,
      );
      // A job already waiting for the same work is not queued twice: count only the new ones as queued.
      const already = jobs.filter((job) => job.deduplicated).length;
      const queue = printable(producer.queueName);
      const heading =
        already === 0
          ? `Queued ${jobs.length} job(s) on ${queue}:`
          : `Queued ${jobs.length - already} new job(s) on ${queue}; ${already} already queued, not queued again:`;
      process.stdout.write(`${heading}\n${lines.join('\n')}\n`);
    }
    context.setExitCode(exitCodeOf(op, outcomes));
  } catch (error) {
    if (!isRedisConnectionError(error)) throw error;
    const lost = lostRedis(error, 'the jobs queued before stay queued while Redis keeps its data.');
    return fail(context, lost.code, lost.message, options.json);
  } finally {
    await producer.close().catch(() => {});
  }
}

/**
 * Nothing would say why `--wait` never ends when no worker takes jobs from the queue (one may still start, so it
 * keeps waiting). A Redis that will not list its clients says nothing either way.
 */
async function sayWhenNoWorker(producer: Producer): Promise<void> {
  const workers = await producer.queue.getWorkersCount().catch(() => undefined);
  if (workers !== 0) return;
  sayNoWorker(producer.queueName, 'the jobs wait');
}

async function follow(producer: Producer, jobs: Parameters<Producer['waitForJobs']>[0], json: boolean) {
  const { SingleBar } = await import('cli-progress');
  const bar =
    process.stderr.isTTY && !json
      ? new SingleBar({
          stream: process.stderr,
          format: 'migrating [{bar}] {value}/{total} done | {failed} failed | {active}',
          hideCursor: true,
        })
      : undefined;
  bar?.start(jobs.length, 0, { failed: 0, active: '' });
  try {
    return await producer.waitForJobs(jobs, {
      onUpdate: (outcomes) => {
        const done = outcomes.filter(
          (outcome) => outcome.state === 'completed' || outcome.state === 'failed',
        );
        const active = outcomes.find((outcome) => outcome.state === 'active');
        bar?.update(done.length, {
          failed: done.filter((outcome) => outcome.state === 'failed').length,
          // The progress step is what a worker wrote to Redis; the directory is anyone's to name.
          active: active
            ? printable(
                `${path.basename(path.dirname(active.dbPath))}: ${active.progress?.step ?? 'starting'}`,
              )
            : '',
        });
      },
    });
  } finally {
    bar?.stop();
  }
}

/**
 * A fixed-width table (database, status, backup path, duration, error), the counts, a line per database whose
 * earlier attempts kept backups (retried after a failure that followed the backup), and what was discarded.
 */
export function formatSummary(
  outcomes: readonly JobOutcome[],
  completed: number,
  failed: number,
  options: { dryRun?: boolean } = {},
): string {
  const rows = outcomes.map((outcome) => [
    outcome.dbPath,
    outcome.state === 'completed'
      ? (outcome.result?.status ?? 'completed')
      : outcome.state === 'unknown'
        ? 'gone'
        : outcome.state,
    outcome.result?.backupPath ?? '-',
    outcome.result ? `${Math.round(outcome.result.durationMs)} ms` : '-',
    outcome.state === 'failed' ? (outcome.failedReason ?? 'failed') : '',
  ]);
  const table = formatTable(['DATABASE', 'STATUS', 'BACKUP', 'DURATION', 'ERROR'], rows);
  const discarded = describeDiscardedAcross(
    outcomes.map((outcome) => outcome.result?.discarded),
    options,
  );
  const earlier = describeEarlierBackups(
    // A result from a worker older than earlierBackups has none.
    outcomes.map((outcome) => ({
      dbPath: outcome.dbPath,
      earlierBackups: outcome.result?.earlierBackups ?? [],
    })),
  ).map((line) => `${line}\n`);
  const gone = outcomes.filter((outcome) => outcome.state === 'unknown').length;
  const goneLine =
    gone > 0
      ? `${gone} job${gone === 1 ? '' : 's'} left Redis before ${gone === 1 ? 'it was' : 'they were'} seen to finish (removed, or Redis lost its data): what became of ${gone === 1 ? 'its database' : 'their databases'} is unknown; gao-migrate verify tells.\n`
      : '';
  return `${table}\n${completed} completed, ${failed} failed, ${outcomes.length - completed - failed - gone} unfinished.\n${earlier.join('')}${goneLine}${discarded ? `${discarded}\n` : ''}`;
}

/**
 * 0 when none failed; 1 when only `verify` found migrations missing or drifted; 2 otherwise. A job gone from Redis
 * before it was seen to finish (removed, or Redis restarted empty) counts as a failure: nothing says it succeeded.
 */
function exitCodeOf(op: JobOperation, outcomes: readonly JobOutcome[]): number {
  const failures = outcomes.filter((outcome) => outcome.state === 'failed' || outcome.state === 'unknown');
  return exitCodeOfUnsuccessful(
    op,
    failures.map((outcome) => outcome.failedReason),
  );
}

function fail(context: CliContext, code: string, message: string, json?: boolean): void {
  printFailure(code, message, json);
  context.setExitCode(ExitCode.FAILED);
}
