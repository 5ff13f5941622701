import { printable } from '../queue/printable.js';
import type { FleetCounts, FleetRow, FleetSnapshot, FleetState, Rollout } from './fleet-data.js';

/**
 * Server-rendered pages, no scripts. Database paths, rollout ids and error messages are user data: every value
 * goes through `escapeHtml`, and the pages are served with a CSP that forbids scripts as a second line. Shown
 * text goes through `shown` first: a newline in a path would read as a space, and a bidi override (U+202E)
 * would show a path reversed.
 */

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/** Escaped text as `status` prints it: as is, or as a JSON string when it holds a control or bidi character. */
function shown(value: string | null | undefined): string {
  return escapeHtml(printable(value ?? ''));
}

/** `812 ms`, `3.4 s`, `2 min 05 s`. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes} min ${String(seconds).padStart(2, '0')} s`;
}

export interface PageContext {
  queueName: string;
  readOnly: boolean;
  /** Seconds between automatic reloads while something is still running; 0 turns reloading off. */
  refreshSeconds: number;
}

const STYLE = `
:root { color-scheme: light; --ok: #1a7f37; --bad: #cf222e; --run: #0969da; --wait: #6e7781; --late: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: baseline; }
header a { color: #d0d7de; text-decoration: none; } header a:hover { color: #fff; }
header .brand { font-weight: 600; color: #fff; }
main { padding: 20px 24px; max-width: 1400px; }
h1 { font-size: 20px; margin: 0 0 4px; word-break: break-all; }
.sub { color: #57606a; margin: 0 0 16px; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.count { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 12px; }
.count b { font-size: 18px; margin-right: 4px; }
.count i { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }
.count i.completed { background: var(--ok); } .count i.failed { background: var(--bad); } .count i.active { background: var(--run); }
.count i.delayed { background: var(--late); } .count i.waiting { background: #d0d7de; }
.bar { display: flex; height: 14px; border-radius: 7px; overflow: hidden; background: #eaeef2; margin: 8px 0 4px; }
.bar span { display: block; height: 100%; }
.bar .completed { background: var(--ok); } .bar .failed { background: var(--bad); }
.bar .active { background: var(--run); } .bar .delayed { background: var(--late); }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #d0d7de; margin-top: 12px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.path { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.error { color: var(--bad); word-break: break-word; max-width: 420px; }
.state { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; color: #fff; }
.state.completed { background: var(--ok); } .state.failed { background: var(--bad); }
.state.active { background: var(--run); } .state.waiting { background: var(--wait); } .state.delayed { background: var(--late); }
.state.cancelled { background: #8a8f98; } .state.not-started { background: #d0d7de; color: #1f2328; }
.reason { border-left: 4px solid var(--bad); padding: 4px 10px; margin: 8px 0; }
.earlier { font-size: 11px; color: #57606a; }
.tag { font-size: 11px; color: #57606a; border: 1px solid #d0d7de; border-radius: 4px; padding: 0 4px; margin-left: 4px; }
.note { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; }
.empty { color: #57606a; }
a { color: #0969da; }
`;

function layout(title: string, body: string, context: PageContext, refresh: boolean): string {
  const refreshTag =
    refresh && context.refreshSeconds > 0
      ? `<meta http-equiv="refresh" content="${context.refreshSeconds}">`
      : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refreshTag}
<title>${shown(title)} · gao-migrate</title>
<style>${STYLE}</style>
</head>
<body>
<header><span class="brand">gao-migrate</span><a href="/fleet">Rollouts</a><a href="/queues">Queue (bull-board)</a><a href="/metrics">Metrics</a><span>queue <b>${escapeHtml(context.queueName)}</b>${context.readOnly ? ' · read-only' : ''}</span></header>
<main>
${body}
</main>
</body>
</html>
`;
}

/** Escaped, with a line-break opportunity after each path separator so long paths wrap at a folder. */
function pathHtml(value: string | null): string {
  return shown(value).replace(/[/\\]/g, '$&<wbr>');
}

/** The backups of a retried job's earlier attempts, under the last one's. */
function earlierBackupsHtml(paths: readonly string[]): string {
  if (paths.length === 0) return '';
  return `<div class="earlier" data-earlier-backups>earlier attempts kept: ${paths.map(pathHtml).join(', ')}</div>`;
}

function rolloutHref(rolloutId: string): string {
  return `/fleet/${encodeURIComponent(rolloutId)}`;
}

function countsHtml(counts: FleetCounts): string {
  const items: [string, number][] = [
    ['databases', counts.total],
    ['completed', counts.completed],
    ['failed', counts.failed],
    ['active', counts.active],
    ['waiting', counts.waiting],
    ['delayed', counts.delayed],
    ['cancelled', counts.cancelled],
    ['not-started', counts['not-started']],
  ];
  return `<div class="counts">${items
    .map(([label, value]) => {
      const dot = label === 'databases' ? '' : `<i class="${label}"></i>`;
      return `<span class="count" data-count="${label}">${dot}<b>${value}</b>${label.replace('-', ' ')}</span>`;
    })
    .join('')}</div>`;
}

/** A stacked bar: completed, failed, active, delayed; the rest is waiting. Widths are whole percentages. */
function progressBar(rollout: Rollout): string {
  const { counts } = rollout;
  const segments = (['completed', 'failed', 'active', 'delayed'] as FleetState[])
    .filter((state) => counts[state] > 0)
    .map((state) => {
      const width = ((counts[state] * 100) / Math.max(counts.total, 1)).toFixed(2);
      return `<span class="${state}" style="width:${width}%" title="${state}: ${counts[state]}"></span>`;
    })
    .join('');
  return `<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${rollout.percent}">${segments}</div>
<div class="sub">${rollout.percent}% finished (${counts.completed + counts.failed} of ${counts.total})</div>`;
}

/** Databases neither finished nor cancelled: waiting, delayed, active or not started. */
/** The rollout's state as `status` names it; a rollout read from its jobs alone is running or finished. */
function stateOf(rollout: Rollout): string {
  return rollout.state ?? (isRunning(rollout) ? 'running' : 'finished');
}

function pendingOf(rollout: Rollout): number {
  const { counts } = rollout;
  return counts.waiting + counts.active + counts.delayed + counts['not-started'];
}

/**
 * A rollout of `gao-migrate fleet` runs until its report says otherwise (a halted one is over, even with
 * databases it never reached); one read from its jobs alone, while any job is still pending.
 */
function isRunning(rollout: Rollout): boolean {
  if (rollout.state !== undefined) return rollout.state === 'running' || rollout.state === 'waiting';
  return pendingOf(rollout) > 0;
}

function truncationNote(snapshot: FleetSnapshot): string {
  return snapshot.truncated
    ? '<p class="note">The queue holds more jobs than one page reads; older rollouts may be missing or incomplete.</p>'
    : '';
}

/** `/fleet`: every rollout found in the queue, newest first. */
export function renderRolloutList(snapshot: FleetSnapshot, context: PageContext): string {
  const rows = snapshot.rollouts
    .map(
      (rollout) => `<tr data-rollout="${escapeHtml(rollout.rolloutId)}">
<td class="path"><a href="${escapeHtml(rolloutHref(rollout.rolloutId))}">${shown(rollout.rolloutId)}</a></td>
<td>${escapeHtml(new Date(rollout.firstAddedAt).toISOString())}</td>
<td data-rollout-state>${stateOf(rollout)}</td>
<td class="num">${rollout.counts.total}</td><td class="num">${rollout.counts.completed}</td>
<td class="num">${rollout.counts.failed}</td>
<td class="num">${rollout.counts.cancelled}</td>
<td class="num">${pendingOf(rollout)}</td>
<td class="num">${rollout.percent}%</td></tr>`,
    )
    .join('\n');
  const table =
    snapshot.rollouts.length === 0
      ? '<p class="empty">No rollouts in this queue yet: jobs appear here when they carry a <code>rolloutId</code>.</p>'
      : `<table><thead><tr><th>Rollout</th><th>Started</th><th>State</th><th>Databases</th><th>Completed</th><th>Failed</th><th>Cancelled</th><th>Pending</th><th>Progress</th></tr></thead>
<tbody>
${rows}
</tbody></table>`;
  const body = `<h1>Rollouts</h1>
<p class="sub">Jobs of queue ${escapeHtml(context.queueName)} grouped by rollout.</p>
${truncationNote(snapshot)}
${table}`;
  return layout('Rollouts', body, context, snapshot.rollouts.some(isRunning));
}

/**
 * The engine's status as a tag beside the state, only where it adds something: not `failed` again beside a
 * failed state, nor `planned` beside "dry run passed", which says the same.
 */
function statusTag(row: FleetRow, dryRunPassed: boolean): string {
  if (!row.status || row.status === row.state) return '';
  if (dryRunPassed && row.status === 'planned') return '';
  return `<span class="tag">${escapeHtml(row.status)}</span>`;
}

function rowHtml(row: FleetRow): string {
  // A dry run that failed kept its result (status `failed`) too: only one that did not fail passed.
  const dryRunPassed = row.dryRun && row.status !== null && row.state !== 'failed' && row.status !== 'failed';
  const dryRun = !row.dryRun
    ? ''
    : dryRunPassed
      ? '<span class="tag">dry run passed</span>'
      : '<span class="tag">dry run</span>';
  const status = statusTag(row, dryRunPassed);
  const attempts = row.attemptsMade > 1 ? `<span class="tag">${row.attemptsMade} attempts</span>` : '';
  const discarded = row.discarded
    ? `<span class="tag" data-discarded>${row.dryRun ? 'would discard' : 'discarded'}: ${shown(row.discarded)}</span>`
    : '';
  return `<tr data-job-id="${escapeHtml(row.jobId)}" data-state="${row.state}">
<td class="path">${pathHtml(row.dbPath)}</td>
<td><span class="state ${row.state}">${row.state}</span>${status}${dryRun}${attempts}${discarded}</td>
<td class="path">${pathHtml(row.backupPath)}${earlierBackupsHtml(row.earlierBackups)}</td>
<td class="num">${escapeHtml(formatDuration(row.durationMs))}</td>
<td class="error">${shown(row.error)}</td>
</tr>`;
}

function statusLine(rollout: Rollout, context: PageContext): string {
  if (rollout.state === 'halted') return 'Halted.';
  if (isRunning(rollout)) {
    const what = rollout.state === 'waiting' ? 'Waiting for a worker to start it' : 'Running';
    return context.refreshSeconds > 0
      ? `${what}; this page reloads every ${context.refreshSeconds} s.`
      : `${what}.`;
  }
  return rollout.counts.failed > 0 ? 'Finished with failures.' : 'Finished.';
}

/** `/fleet/:rolloutId`: one row per database with state, backup, duration and error. */
export function renderRollout(rollout: Rollout, snapshot: FleetSnapshot, context: PageContext): string {
  const running = isRunning(rollout);
  const body = `<h1>Rollout ${shown(rollout.rolloutId)}</h1>
<p class="sub">${escapeHtml(statusLine(rollout, context))}</p>
${rollout.reason ? `<p class="reason" data-reason>${shown(rollout.reason)}</p>` : ''}
${truncationNote(snapshot)}
${countsHtml(rollout.counts)}
${progressBar(rollout)}
<table><thead><tr><th>Database</th><th>State</th><th>Backup</th><th>Duration</th><th>Error</th></tr></thead>
<tbody>
${rollout.rows.map(rowHtml).join('\n')}
</tbody></table>`;
  return layout(`Rollout ${rollout.rolloutId}`, body, context, running);
}

export function renderRolloutNotFound(rolloutId: string, context: PageContext): string {
  const body = `<h1>No rollout ${shown(rolloutId)}</h1>
<p class="sub">No job in queue ${escapeHtml(context.queueName)} carries this rollout id (finished jobs may have been removed by retention).</p>
<p><a href="/fleet">All rollouts</a></p>`;
  return layout('Rollout not found', body, context, false);
}
