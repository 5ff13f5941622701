import type { Queue } from 'bullmq';
import { FLEET_STATES, type FleetSnapshot } from './fleet-data.js';

/** BullMQ job states reported by `gao_migrate_jobs`, each always present (0 when empty) so that rates work. */
export const JOB_COUNT_STATES = [
  'waiting',
  'active',
  'completed',
  'failed',
  'delayed',
  'paused',
  'prioritized',
  'waiting-children',
] as const;

/** Prometheus label values: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .join(',');
}

/**
 * The Prometheus text exposition (format 0.0.4) of the queue's job counts and each rollout's databases by state.
 * Both are gauges: jobs are removed by retention, so the numbers can go down.
 */
export async function renderMetrics(queue: Queue, fleet: FleetSnapshot): Promise<string> {
  const counts = await queue.getJobCounts(...JOB_COUNT_STATES);
  const lines = [
    '# HELP gao_migrate_jobs Jobs in the migrations queue by BullMQ state.',
    '# TYPE gao_migrate_jobs gauge',
  ];
  for (const state of JOB_COUNT_STATES) {
    lines.push(`gao_migrate_jobs{${labels({ queue: queue.name, state })}} ${counts[state] ?? 0}`);
  }
  lines.push(
    '# HELP gao_migrate_rollout_databases Databases of each rollout by state (as gao-migrate status counts them for a fleet rollout; else one per database, its latest job).',
    '# TYPE gao_migrate_rollout_databases gauge',
  );
  for (const rollout of fleet.rollouts) {
    for (const state of FLEET_STATES) {
      const pairs = { queue: queue.name, rollout: rollout.rolloutId, state };
      lines.push(`gao_migrate_rollout_databases{${labels(pairs)}} ${rollout.counts[state]}`);
    }
  }
  lines.push(
    '# HELP gao_migrate_rollout_progress_ratio Finished (completed or failed) databases of each rollout, 0 to 1.',
    '# TYPE gao_migrate_rollout_progress_ratio gauge',
  );
  for (const rollout of fleet.rollouts) {
    const finished = rollout.counts.completed + rollout.counts.failed;
    const ratio = rollout.counts.total === 0 ? 0 : finished / rollout.counts.total;
    lines.push(
      `gao_migrate_rollout_progress_ratio{${labels({ queue: queue.name, rollout: rollout.rolloutId })}} ${ratio}`,
    );
  }
  lines.push(
    '# HELP gao_migrate_dashboard_scan_truncated 1 when the rollout scan stopped at its job limit.',
    '# TYPE gao_migrate_dashboard_scan_truncated gauge',
    `gao_migrate_dashboard_scan_truncated{${labels({ queue: queue.name })}} ${fleet.truncated ? 1 : 0}`,
  );
  return `${lines.join('\n')}\n`;
}
