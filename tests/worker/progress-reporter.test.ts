import type { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PROGRESS_WRITE_INTERVAL_MS, ProgressReporter } from '../../src/worker/progress-reporter.js';
import { captureLogger } from '../queue/helpers.js';

/** The two calls the reporter makes on a BullMQ job, recorded in order (the worker tests use real jobs). */
function recordingJob() {
  const calls: { call: 'progress' | 'log'; value: unknown }[] = [];
  const job = {
    updateProgress: async (value: unknown) => {
      calls.push({ call: 'progress', value });
    },
    log: async (value: string) => {
      calls.push({ call: 'log', value });
      return calls.length;
    },
  } as unknown as Job;
  return { job, calls };
}

function reporter() {
  const { job, calls } = recordingJob();
  const { logger, lines } = captureLogger();
  return { progress: new ProgressReporter(job, logger, () => 1.5), calls, lines };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('job progress', () => {
  it('writes the steps of a job shorter than the interval once, when it ends', async () => {
    const { progress, calls, lines } = reporter();
    for (const step of ['lock', 'preconditions', 'backup', 'migrate', 'verify', 'commit', 'done'] as const) {
      progress.step(step);
    }
    progress.engineEvent({ type: 'backup', path: '/p/documents.backup_x.db', bytes: 42, method: 'copy' });
    expect(calls).toEqual([]);
    await progress.flush();

    expect(calls.map((c) => c.call)).toEqual(['progress', 'log']);
    expect(calls[0]?.value).toEqual({ step: 'done', percent: 100 });
    const gathered = String(calls[1]?.value).split('\n');
    expect(gathered.map((line) => line.split(' ')[1])).toEqual([
      'lock',
      'preconditions',
      'backup',
      'migrate',
      'verify',
      'commit',
      'done',
      'written:',
    ]);
    // The process log is never held back: a line per step but 'done' (the worker logs that one itself).
    expect(lines.filter((line) => typeof line.step === 'string')).toHaveLength(7);
  });

  it('writes a step that lasts past the interval when the interval ends, without waiting for the next', async () => {
    const { progress, calls } = reporter();
    progress.step('lock');
    progress.step('preconditions');
    await vi.advanceTimersByTimeAsync(PROGRESS_WRITE_INTERVAL_MS - 1);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.value)).toContainEqual({ step: 'preconditions', percent: 17 });
    expect(calls).toHaveLength(2);

    // After a quiet interval, the next step is written at once.
    await vi.advanceTimersByTimeAsync(PROGRESS_WRITE_INTERVAL_MS);
    progress.step('backup');
    expect(calls.at(-2)?.value).toEqual({ step: 'backup', percent: 33 });
    await progress.flush();
    expect(calls).toHaveLength(4);
  });

  it('never moves progress backwards', async () => {
    const { progress, calls } = reporter();
    progress.step('preconditions');
    progress.step('lock');
    await progress.flush();
    expect(calls[0]?.value).toEqual({ step: 'lock', percent: 17 });
  });
});

describe('backups across attempts', () => {
  it("carries the earlier attempts' backups in every progress, with this attempt's backup once written", async () => {
    const { job, calls } = recordingJob();
    const { logger } = captureLogger();
    const progress = new ProgressReporter(job, logger, () => 1.5, ['/p/documents.backup_1.db']);
    progress.step('lock');
    await progress.flush();
    expect(calls.at(-2)?.value).toEqual({
      step: 'lock',
      percent: 0,
      earlierBackups: ['/p/documents.backup_1.db'],
    });
    // Written as soon as it is known: an attempt whose thread dies has no result to name it.
    progress.step('backup');
    progress.engineEvent({ type: 'backup', path: '/p/documents.backup_2.db', bytes: 42, method: 'copy' });
    await progress.flush();
    expect(calls.filter((c) => c.call === 'progress').at(-1)?.value).toEqual({
      step: 'backup',
      percent: 33,
      backupPath: '/p/documents.backup_2.db',
      earlierBackups: ['/p/documents.backup_1.db'],
    });
  });
});
