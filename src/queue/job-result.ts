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

/**
 * The backups a job's earlier attempts wrote and kept, oldest first, read from the progress its last attempt left
 * (the next attempt starts with it): those that attempt carried, plus its own (its result's, or if it never
 * returned one, as when its thread died, the one it reported writing).
 */
export function backupsOfEarlierAttempts(progress: unknown): string[] {
  if (typeof progress !== 'object' || progress === null) return [];
  const { earlierBackups, backupPath, result } = progress as Partial<JobProgress>;
  const own = result ? result.backupPath : backupPath;
  const paths = [...(Array.isArray(earlierBackups) ? earlierBackups : []), own];
  return [...new Set(paths.filter((entry): entry is string => typeof entry === 'string' && entry !== ''))];
}
