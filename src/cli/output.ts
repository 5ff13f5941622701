import { isBackupChecksumName } from '../engine/backup-checksum.js';
import type { DiscardedData, RunResult } from '../engine/types.js';
import { printable, printableStack } from '../queue/printable.js';
import { isRetryableCode } from '../queue/retryable.js';
import { ExitCode } from './exit-codes.js';

/** Writes one JSON object and a newline to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A failure that is not an engine run's (a bad option, a held lock, Redis away, a signal) as `--json` prints it:
 * `ok` and an `error` of the shape every engine result's has, `{ code, message, retryable }`.
 */
export function failureJson(code: string, message: string) {
  return { ok: false, error: { code, message, retryable: isRetryableCode(code) } } as const;
}

/**
 * Prints a failure in one sentence with its code on stderr and, with `--json`, as `failureJson` on stdout. The
 * sentence may name a path or a value read from Redis: with a control character in it, it is shown `printable`.
 */
export function printFailure(code: string, message: string, json: boolean | undefined): void {
  if (json) printJson(failureJson(code, message));
  process.stderr.write(`gao-migrate: ${printable(message)} (${code})\n`);
}

/**
 * What a bug thrown out of a command shows for its report: the stack a frame a line, its message (which may name a
 * path or hold text from Redis) shown `printable`, so that an escape sequence or a newline in it neither reaches the
 * terminal nor passes for a frame. Anything else thrown is shown `printable` on one line.
 */
export function describeUnexpectedError(error: unknown): string {
  if (!(error instanceof Error)) return printable(String(error));
  return printableStack(error.stack ?? `${error.name}: ${error.message}`, error.message);
}

/**
 * Says on stderr that no worker takes jobs from the queue, so that a command following its work does not seem to
 * hang: `waiting` names what waits ("the jobs wait", "the rollout waits"). One may still start; nothing is refused.
 */
export function sayNoWorker(queueName: string, waiting: string): void {
  const queue = printable(queueName);
  process.stderr.write(
    `gao-migrate: no worker is running on queue ${queue}; ${waiting} until one starts (gao-migrate worker --queue ${queue} --roots DIR).\n`,
  );
}

/**
 * What files a glob left out are named as: gao-migrate backups, or also their checksums (`<backup>.sha256`, which a
 * glob such as `.gao-dev/*` catches beside them).
 */
export function namedAsBackups(files: readonly string[]): string {
  const checksums = files.some(isBackupChecksumName);
  if (files.length === 1)
    return checksums ? "a gao-migrate backup's .sha256 checksum" : 'a gao-migrate backup';
  return checksums ? 'gao-migrate backups or their .sha256 checksums' : 'gao-migrate backups';
}

/**
 * Says on stderr, in one line with their count and the first of them, that `--glob` matched files named as
 * gao-migrate backups and left them out (`collectDatabases`), so that the number of jobs adds up. Nothing when none.
 */
export function sayLeftOutBackups(op: string, backups: readonly string[]): void {
  const [first] = backups;
  if (first === undefined) return;
  const files =
    backups.length === 1
      ? `1 file --glob matched that is named as ${namedAsBackups(backups)}`
      : `${backups.length} files --glob matched that are named as ${namedAsBackups(backups)}`;
  const example = `${printable(first)}${backups.length > 1 ? ', …' : ''}`;
  const verify = op === 'verify' ? ' To verify a backup, give it with --db.' : '';
  process.stderr.write(
    `gao-migrate: left out ${files} (${example}): a glob takes databases, not their backups.${verify}\n`,
  );
}

export function exitCodeOf(result: RunResult): ExitCode {
  if (result.ok) return ExitCode.OK;
  if (
    result.op === 'verify' &&
    (result.error?.code === 'NOT_APPLIED' || result.error?.code === 'VERIFY_DRIFT')
  ) {
    return ExitCode.VERIFY_FAILED;
  }
  return ExitCode.FAILED;
}

const HEADLINES: Record<RunResult['status'], string> = {
  applied: 'applied',
  'already-applied': 'already applied: nothing to do',
  'rolled-back': 'rolled back',
  'not-applied': 'not applied',
  planned: 'planned (dry run: nothing written, no backup)',
  verified: 'verified',
  failed: 'failed',
};

/** A dry run that failed: it prints no plan, and its error says what stops it. */
const FAILED_DRY_RUN_HEADLINE = 'failed (dry run: nothing would run; nothing written, no backup)';

/** What a `down` dropped (or, on a dry run, would drop), and where it is kept. */
function describeDiscarded(result: RunResult): string {
  const verb = result.dryRun ? 'Would discard' : 'Discarded';
  const lost = result.discarded.filter((item) => item.rows > 0);
  if (lost.length === 0) return `${verb}: no data.`;
  const keeper = result.dryRun ? 'a real run backs it up first' : 'the backup keeps it';
  return `${verb} (${keeper}): ${lost.map((item) => printable(item.message)).join('; ')}.`;
}

/** What the `down`s of many databases dropped (or would drop) of one object, added up. */
export interface DiscardedTotal {
  object: string;
  rows: number;
  /** Databases that dropped (would drop) rows of it. */
  databases: number;
}

/** Adds up, by object, what the `down`s of many databases dropped (or would drop); objects with no rows are left out. */
export function sumDiscarded(lists: readonly (readonly DiscardedData[] | undefined)[]): DiscardedTotal[] {
  const totals = new Map<string, DiscardedTotal>();
  for (const list of lists) {
    for (const item of list ?? []) {
      if (item.rows <= 0) continue;
      const total = totals.get(item.object) ?? { object: item.object, rows: 0, databases: 0 };
      total.rows += item.rows;
      total.databases += 1;
      totals.set(item.object, total);
    }
  }
  return [...totals.values()];
}

/**
 * One line adding up what the `down`s of many databases dropped, by object (`3 rows of learning_applications in
 * 2 databases; ...`), or null when they dropped nothing; with `dryRun`, what they would drop (`by` names the dry
 * runs, e.g. a rollout's preflight). For `fleet` and `enqueue --wait`.
 */
export function describeDiscardedAcross(
  lists: readonly (readonly DiscardedData[] | undefined)[],
  options: { dryRun?: boolean; by?: string } = {},
): string | null {
  const totals = sumDiscarded(lists);
  if (totals.length === 0) return null;
  const parts = totals.map(
    (total) =>
      `${counted(total.rows, 'row')} of ${printable(total.object)} in ${counted(total.databases, 'database')}`,
  );
  const would = options.by ? `${options.by} would discard` : 'Would discard';
  return options.dryRun
    ? `${would} (a real run backs each database up first): ${parts.join('; ')}.`
    : `Discarded (each database's rollback backup keeps its own): ${parts.join('; ')}.`;
}

/**
 * A line per database whose job's earlier attempts failed after writing their backup and were retried, naming
 * those backups (the table shows only the last attempt's). For `fleet`, `status` and `enqueue --wait`.
 */
export function describeEarlierBackups(
  databases: readonly { dbPath: string; earlierBackups?: readonly string[] }[],
): string[] {
  return databases.flatMap(({ dbPath, earlierBackups = [] }) =>
    earlierBackups.length > 0
      ? [
          `Earlier attempts on ${printable(dbPath)} failed after their backup, kept: ${earlierBackups.map(printable).join(', ')}`,
        ]
      : [],
  );
}

function counted(count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;
}

/**
 * A few lines for people: what happened, the backup, the plan on a dry run, the issues verify found. Paths and
 * sentences that name them are shown `printable`: a directory name is anyone's to choose.
 */
export function formatRunResult(result: RunResult): string {
  const headline =
    result.dryRun && result.status === 'failed' ? FAILED_DRY_RUN_HEADLINE : HEADLINES[result.status];
  const lines = [
    `Migration ${result.migration} ${result.op}: ${headline} (${printable(result.db)}, ${Math.round(result.durationMs)} ms)`,
  ];
  if (result.backupPath)
    lines.push(`Backup: ${printable(result.backupPath)} (sha256 ${result.backupSha256})`);
  if (result.discarded.length > 0) lines.push(describeDiscarded(result));
  if (result.dryRun && result.plan.length > 0) {
    // The plan recreates the user's own indexes and triggers from their SQL text: a string literal or a comment
    // there is anyone's to write, so a control character in it is shown escaped too.
    lines.push('Plan:', ...result.plan.map((sql) => `  ${printable(sql.replace(/\s*\n\s*/g, ' '))};`));
  }
  if (result.verification && result.verification.issues.length > 0) {
    lines.push('Issues:', ...result.verification.issues.map((issue) => `  - ${printable(issue.message)}`));
  }
  if (result.error) lines.push(`Error ${result.error.code}: ${printable(result.error.message)}`);
  return `${lines.join('\n')}\n`;
}
