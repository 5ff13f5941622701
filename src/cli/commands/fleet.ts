import os from 'node:os';
import { Argument, type Command, InvalidArgumentError } from 'commander';
import type { FleetClient, RetryOutcome, StartRolloutInput } from '../../fleet/client.js';
import { ROLLOUT_KEEP_COUNT, ROLLOUT_KEEP_DAYS } from '../../fleet/retention.js';
import type { RolloutReport } from '../../fleet/rollout.js';
import { MAX_ROLLOUT_ATTEMPTS, type MaxFailures, parseMaxFailures } from '../../fleet/thresholds.js';
import { redisUrlFromEnv } from '../../queue/connection.js';
import type { JobOperation } from '../../queue/contract.js';
import { printable } from '../../queue/printable.js';
import { DEFAULT_FILE_LOCK_TIMEOUT_MS } from '../../worker/defaults.js';
import type { CliContext } from '../context.js';
import { ExitCode, exitCodeOfUnsuccessful, UsageError } from '../exit-codes.js';
import type { InProcessWorkerSettings } from '../local-stack.js';
import {
  describeDiscardedAcross,
  describeEarlierBackups,
  printFailure,
  printJson,
  sayLeftOutBackups,
  sayNoWorker,
  sumDiscarded,
} from '../output.js';
import { isRedisConnectionError, lostRedis, redisConnectionOf } from '../redis-connection.js';
import { formatTable } from '../table.js';
import { collect, collectDatabases } from '../targets.js';
import {
  assertMigrationId,
  assertNotDryRunOfVerify,
  DEFAULT_BUSY_TIMEOUT_OPTION_MS,
  parseNonNegativeInt,
  parsePositiveIntUpTo,
  parseStallTimeoutMs,
  parseTimeoutMs,
  queueNameOf,
  WORKER_BUSY_TIMEOUT_HELP,
  WORKER_LOCK_TIMEOUT_HELP,
} from './options.js';

interface FleetOptions {
  db: string[];
  glob: string[];
  fromFile: string[];
  migration?: string;
  preflight?: boolean;
  canary: number;
  maxFailures?: MaxFailures;
  attempts: number;
  queue?: string;
  wait?: boolean;
  json?: boolean;
  stallTimeout?: number;
  busyTimeout: number;
  lockTimeout: number;
}

/** Prefix of the help of the options `fleet` passes to the worker it runs itself, as `worker` takes them. */
const FOR_IN_PROCESS_WORKER =
  'for the worker this command runs itself on a private Redis (REDIS_URL unset, none on 127.0.0.1:6379)';

/** The worker options of `fleet`, by commander's name for each, with the flag a user types. */
const IN_PROCESS_WORKER_FLAGS = {
  stallTimeout: '--stall-timeout',
  busyTimeout: '--busy-timeout',
  lockTimeout: '--lock-timeout',
} as const;

/** `gao-migrate fleet`, `status` and `retry`: rollouts across many databases. */
export function registerFleetCommands(program: Command, context: CliContext): void {
  program
    .command('fleet')
    .description(
      'roll a migration out across many databases: optional preflight and canary, a failure threshold',
    )
    .addArgument(new Argument('<op>', 'operation').choices(['up', 'down', 'verify']))
    .option(
      '--glob <pattern>',
      'database files matching a pattern with *, ? and ** (repeatable)',
      collect,
      [],
    )
    .option(
      '--from-file <list>',
      'a file listing one database path per line; a line starting with # is a comment (repeatable)',
      collect,
      [],
    )
    .option('--db <path>', 'a database file (repeatable)', collect, [])
    .option('--migration <id>', 'migration id (default: the latest, 006)')
    .option('--preflight', 'dry-run every database first; apply nothing if any fails')
    .option('--canary <n>', 'migrate n databases first; go on only if all succeed', parseNonNegativeInt, 0)
    .option(
      '--max-failures <n|n%>',
      'halt and cancel what has not started once failures pass this',
      parseThreshold,
    )
    .option(
      '--attempts <n>',
      `attempts per database for retryable failures (1 to ${MAX_ROLLOUT_ATTEMPTS})`,
      parsePositiveIntUpTo(MAX_ROLLOUT_ATTEMPTS),
      5,
    )
    .option('--queue <name>', 'queue name (default: GAO_MIGRATE_QUEUE, else migrations)')
    .option('--wait', 'follow the rollout to its end with a progress bar, then print the summary')
    .option(
      '--json',
      'print one JSON object { rolloutId, state, reason, databases, counts, wouldDiscard, leftOutBackups } on stdout',
    )
    .option(
      '--stall-timeout <ms>',
      `${FOR_IN_PROCESS_WORKER}, as worker --stall-timeout: BullMQ's lock duration and stalled-job check interval, and the staleness of <db>.lock (default: 30000 for BullMQ, 10000 for the file lock); other workers keep their own`,
      parseStallTimeoutMs,
    )
    .option(
      '--busy-timeout <ms>',
      `${FOR_IN_PROCESS_WORKER}, as worker --busy-timeout: ${WORKER_BUSY_TIMEOUT_HELP}; other workers keep their own`,
      parseTimeoutMs,
      DEFAULT_BUSY_TIMEOUT_OPTION_MS,
    )
    .option(
      '--lock-timeout <ms>',
      `${FOR_IN_PROCESS_WORKER}, as worker --lock-timeout: ${WORKER_LOCK_TIMEOUT_HELP}; other workers keep their own`,
      parseNonNegativeInt,
      DEFAULT_FILE_LOCK_TIMEOUT_MS,
    )
    .action((op: JobOperation, options: FleetOptions, command: Command) =>
      runFleet(op, options, givenWorkerFlags(command), context),
    );

  program
    .command('status')
    .description('per-database state of a rollout (or the recent rollouts), read from Redis')
    .argument('[rollout]', 'rollout id', parseRolloutId)
    .option('--queue <name>', 'queue name (default: GAO_MIGRATE_QUEUE, else migrations)')
    .option('--json', 'print one JSON object on stdout')
    .action((rollout: string | undefined, options: { queue?: string; json?: boolean }) =>
      withFleet(context, { ...options, readOnly: true }, async (fleet) => {
        if (!rollout) {
          const ids = await fleet.list();
          if (options.json) printJson({ rollouts: ids });
          else if (ids.length === 0) process.stdout.write('No rollouts in this queue.\n');
          else process.stdout.write(`${await formatRolloutList(fleet, ids)}\n`);
          return ExitCode.OK;
        }
        const report = await requireReport(fleet, rollout);
        printReport(report, options.json === true);
        // A rollout that has not ended and never moves: say why, when no worker is there to move it.
        if (!isEnded(report) && (await fleet.workerCount()) === 0) {
          sayNoWorker(queueNameOf(options.queue), 'the rollout waits');
        }
        return exitCodeOf(report);
      }),
    );

  program
    .command('retry')
    .description(
      're-enqueue the failed databases of a rollout; one its preflight, canary or --max-failures halted goes on',
    )
    .argument('<rollout>', 'rollout id', parseRolloutId)
    .requiredOption('--failed', 'retry the databases whose jobs failed (required: the only selection today)')
    .option('--queue <name>', 'queue name (default: GAO_MIGRATE_QUEUE, else migrations)')
    .option('--wait', 'follow the retried jobs to the end')
    .option('--json', 'print one JSON object on stdout')
    .action((rollout: string, options: { queue?: string; json?: boolean; wait?: boolean }) =>
      withFleet(context, options, async (fleet) => {
        const before = await requireReport(fleet, rollout);
        const outcome = await fleet.retryFailed(rollout);
        const { retried, resumed, requeued } = outcome;
        context
          .logger()
          .info({ rolloutId: rollout, retried, resumed, requeued }, 'failed databases re-enqueued');
        if (!options.wait) {
          if (options.json) printJson({ rolloutId: rollout, retried, resumed, requeued });
          else process.stdout.write(`${describeRetry(before, outcome)}\n`);
          return ExitCode.OK;
        }
        // What the retry resumed is said before the table, which would not tell it.
        if (!options.json) process.stdout.write(`${describeRetry(before, outcome, { following: true })}\n`);
        // As for fleet --wait: nothing else would say why the retried jobs never move.
        if ((await fleet.workerCount()) === 0) sayNoWorker(queueNameOf(options.queue), 'the rollout waits');
        // As fleet --wait: a signal stops the following, not the retried jobs, and says so.
        const interrupt = interruptOnSignal();
        let report: RolloutReport;
        try {
          report = await follow(fleet, rollout, options.json === true, interrupt.signal);
        } catch (error) {
          if (!interrupt.signalName) throw error;
          const message = `Stopped following rollout ${rollout} (${interrupt.signalName}); it goes on: gao-migrate status ${rollout}.`;
          printFailure('INTERRUPTED', message, options.json);
          return 128 + os.constants.signals[interrupt.signalName];
        } finally {
          interrupt.dispose();
        }
        printReport(report, options.json === true);
        return exitCodeOf(report);
      }),
    );
}

/**
 * What `retry` did, in a sentence or two; a resumed rollout says what it goes on to, and, unless the command
 * follows it itself (`following`, for `--wait`), how to follow it.
 */
function describeRetry(
  report: RolloutReport,
  outcome: RetryOutcome,
  { following = false }: { following?: boolean } = {},
): string {
  const rolloutId = printable(report.rolloutId);
  const done = `Re-enqueued ${outcome.retried} failed database(s) of ${rolloutId}.`;
  const follow = following ? '' : ` Follow it with: gao-migrate status ${rolloutId}`;
  switch (outcome.haltedBy) {
    case null:
      return done;
    case 'max-failures':
      return `${done} Its failure threshold (--max-failures) had halted it: the rollout goes on, the ${outcome.requeued} database(s) the halt had cancelled are queued again, and it halts again if failures pass the threshold.${follow}`;
    case 'canary':
      return `${done} Its canary had halted it: the rollout goes on, and once every canary database succeeds it applies ${report.op} to the databases it had not started.${follow}`;
    case 'preflight':
      return `${done} Its preflight had halted it before anything was applied: the rollout goes on, and once every database passes its dry run it applies ${report.op} to all ${report.counts.total}.${follow}`;
  }
}

/** An empty id (`status "$ID"` with ID unset) is a mistake: `status` would otherwise list the rollouts and exit 0. */
function parseRolloutId(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('A rollout id cannot be empty.');
  return value;
}

function parseThreshold(value: string): MaxFailures {
  try {
    return parseMaxFailures(value);
  } catch (error) {
    throw new UsageError(`${(error as Error).message}.`);
  }
}

/** The flags of the worker options typed on the command line, whether or not at their defaults. */
function givenWorkerFlags(command: Command): string[] {
  return Object.entries(IN_PROCESS_WORKER_FLAGS)
    .filter(([name]) => ![undefined, 'default'].includes(command.getOptionValueSource(name)))
    .map(([, flag]) => flag);
}

async function runFleet(
  op: JobOperation,
  options: FleetOptions,
  givenFlags: string[],
  context: CliContext,
): Promise<void> {
  assertMigrationId(options.migration);
  assertNotDryRunOfVerify(op, '--preflight', options.preflight === true);
  const queueName = queueNameOf(options.queue);
  const { databases: targets, leftOutBackups } = await collectDatabases(op, options);
  sayLeftOutBackups(op, leftOutBackups);
  if (options.canary > targets.length) {
    throw new UsageError(`--canary ${options.canary} is more than the ${targets.length} database(s) given.`);
  }
  const logger = context.logger();
  const { redisForRun, startInProcessWorkers } = await import('../local-stack.js');
  const redis = await redisForRun(logger);
  const settings: InProcessWorkerSettings = {
    ...(options.stallTimeout !== undefined && { stallTimeoutMs: options.stallTimeout }),
    busyTimeoutMs: options.busyTimeout,
    lockTimeoutMs: options.lockTimeout,
  };
  // Nobody else can reach a private Redis: this process runs the worker, and must stay to the end.
  const local = redis.private
    ? startInProcessWorkers({ redisUrl: redis.url, queueName, targets, logger, ...settings })
    : undefined;
  if (!local && givenFlags.length > 0) {
    logger.warn(
      settings,
      `${givenFlags.join(', ')} ${givenFlags.length === 1 ? 'is' : 'are'} for the worker fleet runs itself on a private Redis: the workers on this Redis use their own`,
    );
  }
  try {
    await withFleet(context, { ...options, redisUrl: redis.url }, async (fleet) => {
      const rolloutId = await startRollout(fleet, {
        op,
        targets,
        migration: options.migration,
        preflight: options.preflight === true,
        canary: options.canary,
        maxFailures: options.maxFailures,
        attempts: options.attempts,
      });
      logger.info(
        { rolloutId, databases: targets.length, leftOutBackups: leftOutBackups.length, queue: queueName },
        'rollout started',
      );
      // Nothing would say why a rollout never moves: the queue may have no worker yet (one may still start).
      const noWorker = !local && (await fleet.workerCount()) === 0;
      if (!options.wait && !local) {
        const report = await requireReport(fleet, rolloutId);
        if (options.json) printJson({ ...report, leftOutBackups });
        else
          process.stdout.write(
            `Rollout ${rolloutId} started on ${targets.length} database(s). Follow it with: gao-migrate status ${rolloutId}\n`,
          );
        if (noWorker) sayNoWorker(queueName, 'the rollout waits');
        return ExitCode.OK;
      }
      if (noWorker) sayNoWorker(queueName, 'the rollout waits');
      let report: RolloutReport;
      const interrupt = interruptOnSignal();
      try {
        report = await follow(fleet, rolloutId, options.json === true, interrupt.signal);
      } catch (error) {
        if (interrupt.signalName) {
          const message = local
            ? `Interrupted (${interrupt.signalName}): the job in hand finishes, then this run's private Redis stops, and rollout ${rolloutId} with it; the databases it had not reached are unchanged.`
            : `Stopped following rollout ${rolloutId} (${interrupt.signalName}); it goes on: gao-migrate status ${rolloutId}.`;
          printFailure('INTERRUPTED', message, options.json);
          return 128 + os.constants.signals[interrupt.signalName];
        }
        if (!isRedisConnectionError(error)) throw error;
        throw lostRedis(
          error,
          `rollout ${rolloutId} is not cancelled: once Redis is back with its data, follow it with gao-migrate status ${rolloutId}.`,
        );
      } finally {
        interrupt.dispose();
      }
      printReport(report, options.json === true, { leftOutBackups });
      return exitCodeOf(report);
    });
  } finally {
    await local?.close();
    await redis.stop();
  }
}

/** Connects (failing fast with one sentence when Redis is away), runs, closes; sets the exit code. */
async function withFleet(
  context: CliContext,
  options: { queue?: string; json?: boolean; redisUrl?: string; readOnly?: boolean },
  body: (fleet: FleetClient) => Promise<number>,
): Promise<void> {
  const queueName = queueNameOf(options.queue);
  // `status` and `retry` read the Redis the rollout lives in: REDIS_URL, else the default.
  const redisUrl = options.redisUrl ?? redisUrlFromEnv();
  const connection = redisConnectionOf(redisUrl);
  // Loaded here, not at start-up: `up`, `down` and `verify` never pay for BullMQ.
  const [{ assertRedisReachable, RedisUnavailableError }, { createFleetClient }] = await Promise.all([
    import('../../queue/redis-check.js'),
    import('../../fleet/client.js'),
  ]);
  try {
    await assertRedisReachable(redisUrl, connection);
  } catch (error) {
    if (!(error instanceof RedisUnavailableError)) throw error;
    printFailure(error.code, error.message, options.json);
    context.setExitCode(ExitCode.FAILED);
    return;
  }
  // One retry per command, like the producer: a Redis that goes away ends the command with one sentence.
  const fleet = createFleetClient({
    connection: { ...connection, maxRetriesPerRequest: 1 },
    queueName,
    readOnly: options.readOnly,
  });
  try {
    context.setExitCode(await body(fleet));
  } catch (error) {
    if (!isRedisConnectionError(error)) throw error;
    throw lostRedis(
      error,
      'what the command had done stays done: see gao-migrate status once Redis is back.',
    );
  } finally {
    await fleet.close();
  }
}

/** `fleet.start`, whose refusal of bad options becomes one sentence with INVALID_INPUT instead of a stack. */
async function startRollout(fleet: FleetClient, input: StartRolloutInput): Promise<string> {
  const { InvalidRolloutError } = await import('../../fleet/client.js');
  try {
    return await fleet.start(input);
  } catch (error) {
    if (error instanceof InvalidRolloutError) throw new UsageError(error.message, error.code);
    throw error;
  }
}

async function requireReport(fleet: FleetClient, rolloutId: string): Promise<RolloutReport> {
  const report = await fleet.report(rolloutId);
  if (!report) {
    throw new UsageError(
      `No rollout ${printable(rolloutId.slice(0, 80))} in this queue: it was never started here, or it was removed (by hand, or as ended rollouts are: after ${ROLLOUT_KEEP_DAYS} days, or past the latest ${ROLLOUT_KEEP_COUNT.toLocaleString('en-US')}).`,
      'ROLLOUT_NOT_FOUND',
    );
  }
  return report;
}

/**
 * While a command follows a rollout, SIGINT or SIGTERM stops the following (the signal is aborted) instead of
 * killing the process: the in-process worker of a private run then finishes its job, and the command says where
 * things stand. `dispose` puts the default handling back.
 */
function interruptOnSignal(): { signal: AbortSignal; signalName?: 'SIGINT' | 'SIGTERM'; dispose(): void } {
  const controller = new AbortController();
  const state: { signal: AbortSignal; signalName?: 'SIGINT' | 'SIGTERM'; dispose(): void } = {
    signal: controller.signal,
    dispose: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
  function onSignal(signalName: 'SIGINT' | 'SIGTERM') {
    state.dispose(); // a second signal ends the process the default way
    state.signalName = signalName;
    controller.abort();
  }
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return state;
}

async function follow(
  fleet: FleetClient,
  rolloutId: string,
  json: boolean,
  signal?: AbortSignal,
): Promise<RolloutReport> {
  const { SingleBar } = await import('cli-progress');
  const bar =
    process.stderr.isTTY && !json
      ? new SingleBar({
          stream: process.stderr,
          format: '{stage} [{bar}] {value}/{total} | {failed} failed | {cancelled} cancelled',
          hideCursor: true,
        })
      : undefined;
  let started = false;
  const { RolloutNotFoundError } = await import('../../fleet/client.js');
  try {
    return await fleet.wait(rolloutId, {
      signal,
      onUpdate: (report) => {
        const settled = report.counts.done + report.counts.failed + report.counts.cancelled;
        const payload = {
          // The stage is what the rollout job's progress says in Redis, which anything with access may have written.
          stage: printable(report.stage ?? 'queued'),
          failed: report.counts.failed,
          cancelled: report.counts.cancelled,
        };
        if (!started) bar?.start(report.counts.total, settled, payload);
        else bar?.update(settled, payload);
        started = true;
      },
    });
  } catch (error) {
    if (error instanceof RolloutNotFoundError) throw new UsageError(error.message, error.code);
    throw error;
  } finally {
    bar?.stop();
  }
}

/**
 * The report as a table and lines, or with `--json` one object. `fleet` adds the files its globs left out
 * (`leftOutBackups`); `status` and `retry` know nothing of them.
 */
function printReport(
  report: RolloutReport,
  json: boolean,
  extra: { leftOutBackups?: readonly string[] } = {},
): void {
  // What the preflight's dry runs found a `down` would discard, added up over the databases not yet rolled back.
  const wouldDiscard = report.databases.map((database) => database.wouldDiscard);
  if (json) {
    printJson({
      rolloutId: report.rolloutId,
      state: report.state,
      reason: report.reason,
      databases: report.databases.map(
        ({ dbPath, state, backupPath, earlierBackups, durationMs, error, discarded, wouldDiscard }) => ({
          dbPath,
          state,
          backupPath,
          earlierBackups,
          durationMs,
          error,
          discarded,
          wouldDiscard,
        }),
      ),
      counts: report.counts,
      wouldDiscard: sumDiscarded(wouldDiscard),
      ...extra,
    });
    return;
  }
  const rows = report.databases.map((database) => [
    database.dbPath,
    database.state,
    database.backupPath ?? '-',
    durationOf(database),
    database.error ?? '',
  ]);
  const { counts } = report;
  const lines = [
    formatTable(['DATABASE', 'STATE', 'BACKUP', 'DURATION', 'ERROR'], rows),
    // The reason names databases: a newline in one of their paths must not break this line either.
    `Rollout ${printable(report.rolloutId)} (${report.op}): ${report.state}${report.reason ? ` - ${printable(report.reason)}` : ''}`,
    // Every state is counted, so the numbers add up to the total: a database with no job yet is not done either.
    `${counts.done} done, ${counts.failed} failed, ${counts.cancelled} cancelled, ${counts.waiting + counts.active} in progress, ${counts['not-started']} not started, of ${counts.total}.`,
  ];
  const retryHint = describeRetryHint(report);
  if (retryHint) lines.push(retryHint);
  lines.push(...describeEarlierBackups(report.databases));
  const discarded = describeDiscardedAcross(report.databases.map((database) => database.discarded));
  if (discarded) lines.push(discarded);
  const wouldLose = describeDiscardedAcross(wouldDiscard, {
    dryRun: true,
    by: `Per the preflight's dry runs, ${report.op}`,
  });
  if (wouldLose) lines.push(wouldLose);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * How to go on from failed databases, once the rollout is over: nothing else in the report names `retry`, and a
 * halted rollout only goes on through it.
 */
function describeRetryHint(report: RolloutReport): string | null {
  // A failed verify found what it reports (no 006, drift): there is nothing to repair before running it again.
  if (report.op === 'verify' || report.counts.failed === 0) return null;
  if (report.state === 'running' || report.state === 'waiting') return null;
  const command = `gao-migrate retry ${printable(report.rolloutId)} --failed`;
  const resumes =
    report.state === 'halted'
      ? '; a rollout its preflight, canary or --max-failures halted goes on with them'
      : '';
  return `Once the ${report.counts.failed} failed database(s) are repaired, ${command} runs them again${resumes}.`;
}

/** 0 only when every database succeeded; 1 when `verify` only found databases without the migration or drifted. */
function exitCodeOf(report: RolloutReport): number {
  const unsuccessful = report.databases.filter((database) => database.state !== 'done');
  return exitCodeOfUnsuccessful(
    report.op,
    unsuccessful.map((database) => (database.state === 'failed' ? database.error : null)),
  );
}

/** Whether a rollout has ended: nothing more happens to it without a `retry`. */
function isEnded(report: RolloutReport): boolean {
  return report.state === 'completed' || report.state === 'halted';
}

/** A row's duration; a preflight's is its dry run's, which changed nothing, and says so. */
function durationOf(database: RolloutReport['databases'][number]): string {
  if (database.durationMs === null) return '-';
  return `${Math.round(database.durationMs)} ms${database.stage === 'preflight' ? ' (dry run)' : ''}`;
}

/** The recent rollouts, newest first: each one's operation, state and counts, as `status ROLLOUT` reports them. */
async function formatRolloutList(fleet: FleetClient, ids: readonly string[]): Promise<string> {
  const rows: string[][] = [];
  for (const id of ids) {
    // One removed meanwhile (its retention, or by hand) is listed as gone rather than failing the whole list.
    const report = await fleet.report(id);
    if (!report) {
      rows.push([id, '-', 'gone', '-', '-', '-', '-']);
      continue;
    }
    const { counts } = report;
    rows.push([
      id,
      report.op,
      report.state,
      String(counts.done),
      String(counts.failed),
      String(counts.cancelled),
      String(counts.total),
    ]);
  }
  return formatTable(['ROLLOUT', 'OP', 'STATE', 'DONE', 'FAILED', 'CANCELLED', 'TOTAL'], rows);
}
