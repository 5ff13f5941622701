import { describe, expect, it } from 'vitest';
import { jobPhases, OVERHEAD_PHASES } from '../../bench/lib/job-phases.mjs';

/** The worker's lines for one job, as `durationMs` since its processor was called. */
function linesOf(jobId: string, locked: number, releasing: number, done: number) {
  return [
    { jobId, msg: 'step lock', step: 'lock', durationMs: 0.1 },
    { jobId, msg: 'file lock acquired', step: 'lock', durationMs: locked },
    { jobId, msg: 'step preconditions', step: 'preconditions', durationMs: locked + 0.2 },
    { jobId, msg: 'releasing the file lock', step: 'unlock', durationMs: releasing },
    { jobId, msg: 'up: applied', step: 'done', durationMs: done },
  ];
}

describe('jobPhases', () => {
  it('splits each job into lock, engine, thread, release and BullMQ time, and averages over the jobs', () => {
    const lines = [{ msg: 'worker started' }, ...linesOf('1', 1, 11.5, 12), ...linesOf('2', 0.8, 10.2, 10.6)];
    const jobs = [
      { id: '2', processedOn: 1015, finishedOn: 1029, returnvalue: { durationMs: 9 } },
      { id: '1', processedOn: 1000, finishedOn: 1015, returnvalue: { durationMs: 10 } },
      // Retried, say: its lines are missing, so it is left out of the split but not out of the gaps.
      { id: '3', processedOn: 1031, finishedOn: 1040, returnvalue: { durationMs: 8 } },
    ];
    const phases = jobPhases(lines, jobs);
    expect(phases.jobs).toBe(2);
    expect(phases.lock).toBeCloseTo(0.9, 5);
    expect(phases.engine).toBeCloseTo(9.5, 5);
    expect(phases.thread).toBeCloseTo(0.45, 5);
    expect(phases.release).toBeCloseTo(0.45, 5);
    expect(phases.bullmq).toBeCloseTo(3.2, 5);
    // From 1015 to 1015, then from 1029 to 1031.
    expect(phases.betweenJobs).toBe(1);
  });

  it('accounts for the whole of every counted job', () => {
    const phases = jobPhases(linesOf('7', 1.25, 20.5, 21.75), [
      { id: '7', processedOn: 5000, finishedOn: 5024, returnvalue: { durationMs: 18 } },
    ]);
    const parts = OVERHEAD_PHASES.filter((key) => key !== 'betweenJobs').map((key) => phases[key] ?? 0);
    expect(parts.reduce((a, b) => a + b, 0) + (phases.engine ?? 0)).toBeCloseTo(24, 5);
  });

  it('says nothing rather than zero when no job has its lines', () => {
    const phases = jobPhases([], [{ id: '1', processedOn: 1, finishedOn: 2, returnvalue: null }]);
    expect(phases).toMatchObject({ jobs: 0, lock: null, engine: null, bullmq: null, betweenJobs: null });
  });
});
