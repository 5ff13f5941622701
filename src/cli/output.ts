import type { RunResult } from '../engine/types.js';
import { ExitCode } from './exit-codes.js';

/** Writes one JSON object and a newline to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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

/** What a `down` dropped (or, on a dry run, would drop), and where it is kept. */
function describeDiscarded(result: RunResult): string {
  const verb = result.dryRun ? 'Would discard' : 'Discarded';
  const lost = result.discarded.filter((item) => item.rows > 0);
  if (lost.length === 0) return `${verb}: no data.`;
  const keeper = result.dryRun ? 'a real run backs it up first' : 'the backup keeps it';
  return `${verb} (${keeper}): ${lost.map((item) => item.message).join('; ')}.`;
}

/** A few lines for people: what happened, the backup, the plan on a dry run, the issues verify found. */
export function formatRunResult(result: RunResult): string {
  const lines = [
    `Migration ${result.migration} ${result.op}: ${HEADLINES[result.status]} (${result.db}, ${Math.round(result.durationMs)} ms)`,
  ];
  if (result.backupPath) lines.push(`Backup: ${result.backupPath} (sha256 ${result.backupSha256})`);
  if (result.discarded.length > 0) lines.push(describeDiscarded(result));
  if (result.dryRun && result.plan.length > 0) {
    lines.push('Plan:', ...result.plan.map((sql) => `  ${sql.replace(/\s*\n\s*/g, ' ')};`));
  }
  if (result.verification && result.verification.issues.length > 0) {
    lines.push('Issues:', ...result.verification.issues.map((issue) => `  - ${issue.message}`));
  }
  if (result.error) lines.push(`Error ${result.error.code}: ${result.error.message}`);
  return `${lines.join('\n')}\n`;
}
