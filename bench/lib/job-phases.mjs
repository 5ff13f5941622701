/**
 * Where a queued job's time goes, from the worker's own pino lines (each carries `durationMs`, counted from the
 * moment the processor was called) and the jobs' Redis timestamps (`processedOn`, `finishedOn`: whole ms, so
 * only their means over many jobs say anything). Means per job, in ms:
 *   - lock:       validation, allowed roots and `<db>.lock` taken ('file lock acquired');
 *   - engine:     the engine's own `durationMs`;
 *   - thread:     the rest of the time from 'file lock acquired' to 'releasing the file lock' (the request's way
 *                 into the engine's thread and the result's way back; the thread starts on the first job);
 *   - release:    the lock released and the last progress sent (the 'done' line, less 'releasing');
 *   - bullmq:     the rest of `finishedOn - processedOn` (BullMQ's own start and end of a job);
 *   - betweenJobs: from one job's `finishedOn` to the next one's `processedOn`.
 * Jobs missing one of those lines (a retried job, say) are left out; `jobs` says how many were counted.
 */
export function jobPhases(logLines, jobs) {
  const linesByJob = new Map();
  for (const line of logLines) {
    if (line.jobId === undefined) continue;
    const list = linesByJob.get(line.jobId) ?? [];
    list.push(line);
    linesByJob.set(line.jobId, list);
  }
  const rows = [];
  for (const job of jobs) {
    const lines = linesByJob.get(job.id) ?? [];
    const at = (predicate) => lines.find(predicate)?.durationMs;
    const locked = at((line) => line.msg === 'file lock acquired');
    const releasing = at((line) => line.step === 'unlock');
    const done = at((line) => line.step === 'done');
    const engine = job.returnvalue?.durationMs;
    if ([locked, releasing, done, engine].some((value) => typeof value !== 'number')) continue;
    rows.push({
      lock: locked,
      engine,
      thread: releasing - locked - engine,
      release: done - releasing,
      bullmq: job.finishedOn - job.processedOn - done,
    });
  }
  const ordered = [...jobs].sort((a, b) => a.processedOn - b.processedOn);
  const between = ordered.slice(1).map((job, index) => job.processedOn - ordered[index].finishedOn);
  const mean = (values) =>
    values.length === 0 ? null : Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 100) / 100;
  const phase = (key) => mean(rows.map((row) => row[key]));
  return {
    jobs: rows.length,
    lock: phase('lock'),
    engine: phase('engine'),
    thread: phase('thread'),
    release: phase('release'),
    bullmq: phase('bullmq'),
    betweenJobs: mean(between),
  };
}

/** The phases of `jobPhases` that are not the engine's own time. */
export const OVERHEAD_PHASES = ['lock', 'thread', 'release', 'bullmq', 'betweenJobs'];
