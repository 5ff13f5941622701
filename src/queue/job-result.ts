import type { JobProgress, MigrationJobResult } from './contract.js';

/**
 * The engine's result of a finished job: its return value when it completed; when it failed, the result its last
 * attempt kept in its progress (null if it failed before the engine ran, e.g. outside the roots).
 */
export function engineResultOfJob(
  job: { returnvalue: unknown; progress: unknown },
  state: string,
): MigrationJobResult | null {
  if (state === 'completed') return (job.returnvalue as MigrationJobResult | null) ?? null;
  if (state !== 'failed' || typeof job.progress !== 'object' || job.progress === null) return null;
  return (job.progress as JobProgress).result ?? null;
}
