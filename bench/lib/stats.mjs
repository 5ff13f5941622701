/** Summaries of repeated timings: median and range, in milliseconds rounded to 0.01. */

export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return {
    median: round(median),
    min: round(sorted[0]),
    max: round(sorted[sorted.length - 1]),
    runs: samples.map(round),
  };
}

/** Medians of each step over runs of `{ step, ms }[]`, in the order the steps ran. */
export function summarizeSteps(stepRuns) {
  const byStep = new Map();
  for (const steps of stepRuns) {
    for (const { step, ms } of steps) {
      if (!byStep.has(step)) byStep.set(step, []);
      byStep.get(step).push(ms);
    }
  }
  return Object.fromEntries([...byStep].map(([step, samples]) => [step, summarize(samples)]));
}

export function ratio(ours, baseline) {
  return baseline > 0 ? Math.round((ours / baseline) * 100) / 100 : null;
}

export function round(ms) {
  return Math.round(ms * 100) / 100;
}

/** Times a synchronous function in milliseconds. */
export function time(fn) {
  const started = performance.now();
  const value = fn();
  return { ms: performance.now() - started, value };
}

/**
 * Growth across a run of samples that swing from one to the next (RSS): the highest of the later half over the
 * highest of the earlier half. A leak lifts the whole band; a single high or low sample decides nothing.
 */
export function halfPeakGrowth(values) {
  const half = Math.floor(values.length / 2);
  return Math.max(...values.slice(values.length - half)) / Math.max(...values.slice(0, half));
}
