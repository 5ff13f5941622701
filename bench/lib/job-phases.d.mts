// Types of bench/lib/job-phases.mjs, for its test (tests/bench/).
export interface JobPhases {
  jobs: number;
  lock: number | null;
  engine: number | null;
  thread: number | null;
  release: number | null;
  bullmq: number | null;
  betweenJobs: number | null;
}

export function jobPhases(
  logLines: ReadonlyArray<{ jobId?: string; msg?: string; step?: string; durationMs?: number }>,
  jobs: ReadonlyArray<{
    id?: string;
    processedOn?: number;
    finishedOn?: number;
    returnvalue?: { durationMs?: number } | null;
  }>,
): JobPhases;

export const OVERHEAD_PHASES: ReadonlyArray<'lock' | 'thread' | 'release' | 'bullmq' | 'betweenJobs'>;
