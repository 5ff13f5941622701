/**
 * Engine benchmark: migration 006 up, down and verify on databases of 1,000, 100,000 and 1,000,000 learnings,
 * each measurement alternating with its bare-minimum baseline, medians and min-max over at least 5 runs.
 *
 *   node bench/engine.mjs [--quick] [--runs N] [--sizes 1000,100000] [--only up,processUp] [--out FILE]
 *
 * --quick: 1,000 and 100,000 learnings only, 3 runs (with the queue's --quick, under a minute once the sample
 *          databases are cached).
 * --only:  measure only these pairs (up, down, verify, backup, backupWal, backupWalFrames, processUp, processDown),
 *          for a quick before-and-after of one change; the goals they do not cover read "not measured".
 * --out:   write the results as JSON to FILE (bench/run.mjs gathers them into bench/results.json).
 * Databases are generated once under os.tmpdir()/gao-migrate-bench and copied for every run.
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { sampleDatabase, scratchDirectory } from './lib/databases.mjs';
import { describeMachine, hasCp, sqliteShellVersion } from './lib/machine.mjs';
import {
  cliProcess,
  cliStartup,
  engineBackup,
  engineRun,
  freshCopy,
  freshCopyWithWal,
  plainCopy,
  planOf,
  rawRun,
  rawVerify,
  shellProcess,
  turnEventLoop,
  walCopy,
  walWithFrames,
  writePlanFile,
} from './lib/measure.mjs';
import { formatMs, printTable } from './lib/report.mjs';
import { ratio, summarize, summarizeSteps } from './lib/stats.mjs';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    sizes: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});

const SIZES = args.sizes
  ? args.sizes.split(',').map(Number)
  : args.quick
    ? [1_000, 100_000]
    : [1_000, 100_000, 1_000_000];
const PAIR_NAMES = [
  'up',
  'down',
  'verify',
  'backup',
  'backupWal',
  'backupWalFrames',
  'processUp',
  'processDown',
];
const ONLY = args.only ? new Set(args.only.split(',')) : null;
const unknownPairs = [...(ONLY ?? [])].filter((name) => !PAIR_NAMES.includes(name));
if (unknownPairs.length > 0) {
  process.stderr.write(
    `--only: unknown measurement ${unknownPairs.join(', ')}; known: ${PAIR_NAMES.join(', ')}.\n`,
  );
  process.exit(2);
}
const RUNS = Math.max(1, Number(args.runs ?? (args.quick ? 3 : 5)));
/** Sizes below this get one discarded warm-up round (JIT, page cache); above it a round costs too much. */
const WARM_UP_BELOW = 100_000;
/** Whole-process runs cost a node start-up each; --quick keeps them to the smallest size to stay under a minute. */
const PROCESS_UP_TO = args.quick ? 1_000 : Number.POSITIVE_INFINITY;

const GOALS = {
  upEngineMsAt1k: 100,
  processUpRatioAt1M: 1.25,
  processDownRatioAt1M: 1.1,
  backupRatio: 1.5,
};

const log = (line) => process.stderr.write(`${line}\n`);

async function main() {
  const machine = describeMachine();
  const loadBefore = os.loadavg().map((n) => Math.round(n * 100) / 100);
  const notes = [];
  const shellBaseline = hasCp() && sqliteShellVersion() !== null;
  if (!shellBaseline) {
    const note =
      'No `cp` or `sqlite3` on PATH (as on a stock Windows): the whole-process baselines (cp + sqlite3 shell) are skipped; the in-process baselines still run.';
    notes.push(note);
    log(`note: ${note}`);
  }
  log(
    `machine: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, SQLite ${machine.betterSqlite3Sqlite} (better-sqlite3), sqlite3 shell ${machine.sqlite3Shell ?? 'none'}`,
  );
  const scratch = scratchDirectory();
  const sizes = [];
  if (args.quick) notes.push('--quick: whole-process measurements at 1,000 learnings only, no 1,000,000.');
  try {
    const startup = summarize(Array.from({ length: args.quick ? 3 : RUNS }, () => cliStartup().ms));
    for (const learnings of SIZES) sizes.push(await benchSize(learnings, scratch, shellBaseline));
    const results = {
      kind: 'engine',
      mode: args.quick ? 'quick' : 'full',
      runs: RUNS,
      measuredAt: new Date().toISOString(),
      machine,
      loadAverage: { before: loadBefore, after: os.loadavg().map((n) => Math.round(n * 100) / 100) },
      goals: GOALS,
      notes,
      cliStartupMs: startup,
      sizes,
      verdicts: verdicts(sizes),
    };
    printReport(results);
    if (args.out) fs.writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    scratch.cleanup();
  }
}

async function benchSize(learnings, scratch, shellBaseline) {
  const sample = sampleDatabase(learnings, { log });
  const bytes = fs.statSync(sample.path).size;
  log(`\n${learnings.toLocaleString('en-US')} learnings (${(bytes / 2 ** 20).toFixed(1)} MiB): ${RUNS} runs`);

  // A database with 006 applied, for down and verify; and the plans both directions run.
  const applied = freshCopy(sample.path, scratch.file(`applied-${learnings}.db`));
  engineRun('up', applied, 'applied');
  for (const name of fs.readdirSync(scratch.dir))
    if (name.includes('.backup_')) fs.rmSync(scratch.file(name));
  const work = scratch.file('work.db');
  const upPlan = planOf('up', freshCopy(sample.path, work));
  const downPlan = planOf('down', freshCopy(applied, work));
  const upSql = writePlanFile(scratch.file('up.sql'), upPlan, { foreignKeysOff: false });
  const downSql = writePlanFile(scratch.file('down.sql'), downPlan, { foreignKeysOff: true });

  // The same database in WAL mode: with its WAL empty (as the engine leaves it when its checkpoint succeeds),
  // and with committed frames a reader kept the checkpoint from folding in.
  const walEmpty = walCopy(sample.path, scratch.file(`wal-empty-${learnings}.db`));
  const walFrames = walWithFrames(sample.path, scratch.file(`wal-frames-${learnings}.db`));

  const pairs = {
    up: {
      ours: () => engineRun('up', freshCopy(sample.path, work), 'applied'),
      baseline: () => rawRun(freshCopy(sample.path, work), upPlan, { foreignKeysOff: false }),
    },
    down: {
      ours: () => engineRun('down', freshCopy(applied, work), 'rolled-back'),
      baseline: () => rawRun(freshCopy(applied, work), downPlan, { foreignKeysOff: true }),
    },
    verify: {
      ours: () => engineRun('verify', freshCopy(applied, work), 'verified'),
      baseline: () => rawVerify(freshCopy(applied, work)),
    },
    backup: {
      ours: () => engineBackup(freshCopy(sample.path, work)),
      baseline: () => plainCopy(freshCopy(sample.path, work), { check: true }),
      plainCopy: () => plainCopy(freshCopy(sample.path, work), { check: false }),
      // The floor of a backup that survives a power cut: the copy flushed to disk, then checked.
      durableCopy: () => plainCopy(freshCopy(sample.path, work), { check: true, flush: true }),
      // The floor of what our backup promises: durable under its name, checked and hashed, the plainest way.
      promisedCopy: () => plainCopy(freshCopy(sample.path, work), { check: true, flush: true, hash: true }),
    },
    backupWal: {
      ours: () => engineBackup(freshCopy(walEmpty, work)),
      baseline: () => plainCopy(freshCopy(walEmpty, work), { check: true }),
    },
    backupWalFrames: {
      ours: () => engineBackup(freshCopyWithWal(walFrames, work)),
      baseline: () => plainCopy(freshCopyWithWal(walFrames, work), { check: true, wal: true }),
    },
  };
  if (shellBaseline && learnings <= PROCESS_UP_TO) {
    pairs.processUp = {
      ours: () => cliProcess('up', freshCopy(sample.path, work)),
      baseline: () => shellProcess(freshCopy(sample.path, work), upSql),
    };
    pairs.processDown = {
      ours: () => cliProcess('down', freshCopy(applied, work)),
      baseline: () => shellProcess(freshCopy(applied, work), downSql),
    };
  }

  if (ONLY) {
    for (const name of Object.keys(pairs)) if (!ONLY.has(name)) delete pairs[name];
  }
  const samples = Object.fromEntries(Object.keys(pairs).map((name) => [name, []]));
  const rounds = learnings < WARM_UP_BELOW ? RUNS + 1 : RUNS;
  for (let round = 0; round < rounds; round++) {
    const warmUp = rounds > RUNS && round === 0;
    for (const [name, pair] of Object.entries(pairs)) {
      // Alternate which goes first, so that drift (page cache, CPU clock) does not favour one side.
      const order = round % 2 ? Object.keys(pair).reverse() : Object.keys(pair);
      const measured = {};
      for (const side of order) {
        measured[side] = pair[side]();
        await turnEventLoop();
      }
      if (!warmUp) samples[name].push(measured);
    }
    log(`  round ${round + 1}/${rounds}${warmUp ? ' (warm-up, discarded)' : ''} done`);
  }

  const measurements = {};
  for (const [name, runs] of Object.entries(samples)) {
    const ours = summarize(runs.map((run) => run.ours.ms));
    const baseline = summarize(runs.map((run) => run.baseline.ms));
    const entry = { ours, baseline, ratio: ratio(ours.median, baseline.median) };
    if (runs[0].ours.steps) entry.steps = summarizeSteps(runs.map((run) => run.ours.steps));
    if (runs[0].baseline.copyMs !== undefined) {
      entry.baselineParts = {
        copy: summarize(runs.map((run) => run.baseline.copyMs)),
        sql: summarize(runs.map((run) => run.baseline.sqlMs)),
      };
    }
    if (runs[0].ours.method) entry.backupMethod = runs[0].ours.method;
    if (runs[0].plainCopy) entry.plainCopy = summarize(runs.map((run) => run.plainCopy.ms));
    if (runs[0].durableCopy) {
      entry.durableCopy = summarize(runs.map((run) => run.durableCopy.ms));
      entry.ratioToDurableCopy = ratio(ours.median, entry.durableCopy.median);
    }
    if (runs[0].promisedCopy) {
      entry.promisedCopy = summarize(runs.map((run) => run.promisedCopy.ms));
      entry.ratioToPromisedCopy = ratio(ours.median, entry.promisedCopy.median);
    }
    measurements[name] = entry;
  }
  return {
    learnings,
    bytes,
    generatedMs: sample.generatedMs === null ? null : Math.round(sample.generatedMs),
    measurements,
  };
}

function verdicts(sizes) {
  const list = [];
  const at = (n) => sizes.find((size) => size.learnings === n);
  const small = at(1_000);
  if (small?.measurements.up) {
    const value = small.measurements.up.ours.median;
    list.push({
      goal: `up at 1,000 learnings: engine time < ${GOALS.upEngineMsAt1k} ms`,
      value: `${formatMs(value)}`,
      met: value < GOALS.upEngineMsAt1k,
    });
  }
  const large = at(1_000_000);
  for (const [name, limit] of [
    ['processUp', GOALS.processUpRatioAt1M],
    ['processDown', GOALS.processDownRatioAt1M],
  ]) {
    const entry = large?.measurements[name];
    list.push({
      goal: `whole-process ${name === 'processUp' ? 'up' : 'down'} at 1,000,000 learnings within ${limit}x of cp + sqlite3`,
      value: entry ? `${entry.ratio}x` : 'not measured',
      met: entry ? entry.ratio <= limit : null,
    });
  }
  for (const [name, journal] of [
    ['backup', ''],
    ['backupWal', ', WAL database'],
  ]) {
    for (const size of sizes) {
      const entry = size.measurements[name];
      if (!entry) continue;
      list.push({
        goal: `backup at ${size.learnings.toLocaleString('en-US')} learnings${journal} within ${GOALS.backupRatio}x of a plain copy + quick_check`,
        value: `${entry.ratio}x`,
        met: entry.ratio <= GOALS.backupRatio,
      });
    }
  }
  return list;
}

function printReport(results) {
  const rows = [];
  for (const size of results.sizes) {
    for (const [name, entry] of Object.entries(size.measurements)) {
      rows.push([
        size.learnings.toLocaleString('en-US'),
        LABELS[name],
        rangeOf(entry.ours),
        rangeOf(entry.baseline),
        entry.ratio === null ? '-' : `${entry.ratio}x`,
      ]);
    }
  }
  console.log(
    `\nEngine benchmark (${results.mode}, ${results.runs} runs each, median (min-max) in ms), ${results.machine.cpu}, ${results.machine.cores} cores, node ${results.machine.node}, SQLite ${results.machine.betterSqlite3Sqlite}, sqlite3 shell ${results.machine.sqlite3Shell ?? 'none'}`,
  );
  printTable(['learnings', 'measurement (ours vs baseline)', 'ours', 'baseline', 'ratio'], rows);
  console.log('\nWhere the engine time goes (median ms per step):');
  for (const size of results.sizes) {
    for (const name of ['up', 'down', 'verify']) {
      if (!size.measurements[name]) continue;
      const steps = size.measurements[name].steps;
      const parts = Object.entries(steps).map(([step, s]) => `${step} ${formatMs(s.median)}`);
      const base = size.measurements[name].baselineParts;
      const baseText = base
        ? `; baseline: copy ${formatMs(base.copy.median)}, sql ${formatMs(base.sql.median)}`
        : '';
      console.log(
        `  ${size.learnings.toLocaleString('en-US').padStart(9)} ${name.padEnd(6)} ${parts.join(', ')}${baseText}`,
      );
    }
  }
  for (const size of results.sizes) {
    const backup = size.measurements.backup;
    if (backup?.durableCopy) {
      console.log(
        `  ${size.learnings.toLocaleString('en-US').padStart(9)} backup vs a durable copy (copy + fsync + quick_check, ${rangeOf(backup.durableCopy)}): ${backup.ratioToDurableCopy}x`,
      );
    }
    if (backup?.promisedCopy) {
      console.log(
        `  ${size.learnings.toLocaleString('en-US').padStart(9)} backup vs a durable, checked, hashed copy (copy + fsync + quick_check + SHA-256 + directory fsync, ${rangeOf(backup.promisedCopy)}): ${backup.ratioToPromisedCopy}x`,
      );
    }
  }
  console.log(`  CLI start-up (gao-migrate --help): ${rangeOf(results.cliStartupMs)}`);
  console.log(
    `  load average (1, 5, 15 min) before: ${results.loadAverage.before.join(', ')}; after: ${results.loadAverage.after.join(', ')}`,
  );
  console.log('\nGoals:');
  for (const verdict of results.verdicts) {
    const mark = verdict.met === null ? 'n/a ' : verdict.met ? 'met ' : 'MISS';
    console.log(`  [${mark}] ${verdict.goal}: ${verdict.value}`);
  }
  for (const note of results.notes) console.log(`note: ${note}`);
}

const LABELS = {
  up: 'engine up vs copy + SQL in-process',
  down: 'engine down vs copy + SQL in-process',
  verify: 'engine verify vs quick_check + fk_check',
  backup: 'engine backup vs copy + quick_check',
  backupWal: 'engine backup, WAL database, vs copy + quick_check',
  backupWalFrames: 'engine backup, WAL with frames, vs copy of both + quick_check',
  processUp: 'gao-migrate up vs cp + sqlite3',
  processDown: 'gao-migrate down vs cp + sqlite3',
};

function rangeOf(summary) {
  return `${formatMs(summary.median)} (${formatMs(summary.min)}-${formatMs(summary.max)})`;
}

await main();
