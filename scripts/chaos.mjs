#!/usr/bin/env node
// npm run chaos: the long form of the fault-injection tests (tests/reliability/). Real worker processes killed
// with SIGKILL at random moments, Redis crashed and restarted, producers killed mid-enqueue, contending workers,
// another process writing the databases, kills during the backup, a nearly full disk, and the hostile-input table
// (from its test). Prints the figures and writes docs/RELIABILITY.md from them.
//
//   node scripts/chaos.mjs [--quick] [--seed N] [--no-doc]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  contendWorkers,
  crashWorkers,
  diskNearlyFull,
  killDuringBackup,
  killProducerMidEnqueue,
  makeTemplate,
  REPO,
  redisRestartMidRollout,
  redisUnreachable,
  startRedisServer,
  stopAll,
  summarize,
  tempRoot,
  writerDuringMigration,
} from './lib/reliability.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const writeDoc = !args.includes('--no-doc');
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : 20261124;
const plan = quick
  ? { learnings: 10_000, databases: 6, rounds: 4, kills: 10, backupKills: 4, producerDbs: 100 }
  : { learnings: 100_000, databases: 10, rounds: 10, kills: 40, backupKills: 8, producerDbs: 300 };
const command = `npm run chaos${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
const say = (line) => process.stdout.write(`${line}\n`);
const started = Date.now();
const root = tempRoot();
const figures = { plan, seed, command };

say(`gao-migrate chaos (${quick ? 'quick' : 'full'}), seed ${seed}, under ${root}`);
let redis;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    // Children (workers, redis-server, the writer) must not outlive an interrupted run.
    stopAll().finally(() => process.exit(130));
  });
}
try {
  say(
    `Templates: ${plan.learnings} learnings, rollback journal and WAL (pristine, and migrated by the engine)`,
  );
  const templates = [
    makeTemplate(root, { learnings: plan.learnings, wal: false, seed: 1 }),
    makeTemplate(root, { learnings: plan.learnings, wal: true, seed: 2 }),
  ];
  const small = makeTemplate(root, { learnings: 3000, wal: false, seed: 3 });
  const smallWal = makeTemplate(root, { learnings: 3000, wal: true, seed: 4 });
  redis = await startRedisServer();

  say(
    `\n[1] kill -9 of the worker: ${plan.databases} databases x ${plan.rounds} rounds of up/down, ${plan.kills} kills`,
  );
  figures.crash = await crashWorkers({
    redisUrl: redis.url,
    root,
    templates,
    databases: plan.databases,
    rounds: plan.rounds,
    kills: plan.kills,
    maxDelayMs: 1500,
    seed,
    timeoutMs: 1_800_000,
    log: (line) => say(`    ${line}`),
  });
  say(`    ${JSON.stringify(figures.crash.summary)}`);

  say('\n[2] two and four workers over the same databases');
  figures.contend = [];
  for (const workers of [2, 4]) {
    const result = await contendWorkers({
      redisUrl: redis.url,
      root,
      template: small,
      workers,
      databases: 6,
      copies: 3,
    });
    figures.contend.push(result);
    say(
      `    ${workers} workers: ${result.completed}/${result.jobs} jobs, ${result.overlaps} overlapping lock holds`,
    );
  }

  say(
    '\n[3] another process writing during up/down (rollback journal, WAL, then WAL over 4 MiB with a reader)',
  );
  figures.writer = [];
  // Over 4 MiB the backup is a page copy; the reader then keeps the WAL from being checkpointed (copy-wal).
  const walWithReader = makeTemplate(root, { learnings: 20_000, wal: true, seed: 6 });
  for (const [template, readerHoldMs] of [
    [small, 0],
    [smallWal, 0],
    [walWithReader, 1500],
  ]) {
    const result = await writerDuringMigration({
      redisUrl: redis.url,
      root,
      template,
      jobs: quick ? 4 : 8,
      readerHoldMs,
    });
    figures.writer.push(result);
    const methods = Object.entries(result.backupMethods)
      .map(([method, n]) => `${method} ${n}`)
      .join(', ');
    say(
      `    ${result.mode}${readerHoldMs ? ' + reader' : ''}: ${result.writerCommitted} committed writes, ${result.lostWrites} lost, ${result.lockedRetries} DB_LOCKED retries; backups: ${methods}`,
    );
  }

  say('\n[4] kill -9 of a producer half-way through enqueueing');
  figures.producer = await killProducerMidEnqueue({
    redisUrl: redis.url,
    root,
    template: makeTemplate(root, { learnings: 20, seed: 5 }),
    databases: plan.producerDbs,
  });
  say(
    `    killed with ${figures.producer.jobsAtKill}/${plan.producerDbs} jobs enqueued; ${figures.producer.completed} completed after the re-run`,
  );

  say('\n[5] Redis killed and restarted mid-rollout (append-only Redis)');
  figures.rollout = await redisRestartMidRollout({
    root,
    template: makeTemplate(root, { learnings: 10_000, seed: 6 }),
    databases: 10,
  });
  say(
    `    rollout ${figures.rollout.rolloutState}; ${figures.rollout.completedAtRestart} databases done at the restart`,
  );

  say('\n[6] Redis unreachable at start');
  figures.unreachable = await redisUnreachable({ root, template: small });
  say(
    `    producer: exit ${figures.unreachable.producerExit} ${figures.unreachable.producerCode} after ${figures.unreachable.producerMs} ms; worker waited, then: ${figures.unreachable.jobAfterRedisStarted}`,
  );

  say('\n[7] kill -9 of `gao-migrate up` during the backup');
  figures.backupKill = await killDuringBackup({
    root,
    template: templates[0],
    attempts: plan.backupKills,
    seed,
  });
  say(`    ${figures.backupKill.kills} kills; then up: ${figures.backupKill.finalStatus}`);

  say('\n[8] disk nearly full');
  figures.disk = await diskNearlyFull({ root });
  say(`    ${figures.disk.method}: ${figures.disk.code}, files unchanged: ${figures.disk.unchanged}`);

  say('\n[9] hostile inputs (tests/reliability/hostile-input.test.ts)');
  const report = path.join(root, 'hostile-input.json');
  const vitest = spawnSync(
    process.execPath,
    [
      path.join(REPO, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      'tests/reliability/hostile-input.test.ts',
    ],
    { cwd: REPO, env: { ...process.env, GAO_MIGRATE_HOSTILE_REPORT: report }, encoding: 'utf8' },
  );
  figures.hostile = fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, 'utf8')) : [];
  figures.hostileTestsPassed = vitest.status === 0;
  say(
    `    ${figures.hostile.length} cases; test file ${vitest.status === 0 ? 'passed' : `FAILED:\n${vitest.stdout.slice(-3000)}`}`,
  );
} finally {
  await redis?.stop();
  await stopAll();
}

figures.totals = totals(figures);
figures.wallSeconds = Math.round((Date.now() - started) / 1000);
say(`\nTotals: ${JSON.stringify(figures.totals)}`);
say(`Wall time: ${figures.wallSeconds} s`);
if (writeDoc) {
  const doc = path.join(REPO, 'docs', 'RELIABILITY.md');
  fs.mkdirSync(path.dirname(doc), { recursive: true });
  fs.writeFileSync(doc, renderDoc(figures));
  say(`Wrote ${path.relative(REPO, doc)}`);
}
fs.rmSync(root, { recursive: true, force: true });
const failed = figures.totals.problems > 0 || !figures.hostileTestsPassed;
process.exitCode = failed ? 1 : 0;

function totals(f) {
  const checks = [
    ...f.crash.databases,
    ...f.contend.flatMap((c) => c.databases),
    f.backupKill.final,
    f.unreachable.final,
  ];
  const all = summarize(checks);
  const extra = [f.producer.summary, f.rollout.summary];
  const sum = (key) => all[key] + extra.reduce((total, s) => total + s[key], 0);
  const jobs =
    f.crash.jobs +
    f.contend.reduce((t, c) => t + c.jobs, 0) +
    f.writer.reduce((t, w) => t + w.jobs, 0) +
    f.producer.jobsAfterRerun +
    f.rollout.databases +
    1;
  const failedJobs =
    f.crash.failed.length +
    f.contend.reduce((t, c) => t + c.failed.length, 0) +
    f.writer.reduce((t, w) => t + w.failed.length, 0) +
    f.producer.failed.length;
  const kills = f.crash.kills.length + f.backupKill.kills + 1; // + the producer
  const result = {
    jobs,
    failedJobs,
    workerKills: f.crash.kills.length,
    workerRestarts: f.crash.restarts,
    backupKills: f.backupKill.kills,
    producerKills: 1,
    redisRestarts: 1,
    crashesInjected: kills + 1,
    databasesChecked: sum('databasesChecked') + f.writer.length + 1,
    corrupt: sum('corrupt') + f.writer.filter((w) => w.integrity !== 'ok').length,
    neitherState: sum('neitherState') + f.writer.filter((w) => w.state === 'neither').length,
    lostLearnings: sum('lostLearnings'),
    lostWrites: f.writer.reduce((t, w) => t + w.lostWrites, 0),
    appliedTwice: sum('appliedTwice'),
    badBackups: sum('badBackups') + f.writer.reduce((t, w) => t + w.badBackups, 0),
    backupsChecked: sum('backups') + f.writer.reduce((t, w) => t + w.backups, 0),
    strayTables: sum('strayTables'),
    partialFiles: sum('partialFiles') + f.backupKill.final.partials.length,
    partialsNamedLikeBackups: sum('partialsNamedLikeBackups'),
    lockOverlaps: f.contend.reduce((t, c) => t + c.overlaps, 0),
    wrongState:
      sum('wrongState') + f.writer.filter((w) => w.expectedState && w.state !== w.expectedState).length,
    finishedByEarlierAttempt: sum('finishedByEarlierAttempt'),
  };
  result.problems =
    result.failedJobs +
    result.corrupt +
    result.neitherState +
    result.lostLearnings +
    result.lostWrites +
    result.appliedTwice +
    result.badBackups +
    result.strayTables +
    result.partialsNamedLikeBackups +
    result.lockOverlaps +
    sum('wrongState') +
    (f.disk.code === 'INSUFFICIENT_DISK_SPACE' && f.disk.unchanged ? 0 : 1) +
    (f.rollout.rolloutState === 'completed' ? 0 : 1) +
    (f.unreachable.producerCode === 'REDIS_UNAVAILABLE' && f.unreachable.workerAliveWithoutRedis ? 0 : 1) +
    (f.producer.killedMidway ? 0 : 1);
  return result;
}

function renderDoc(f) {
  const t = f.totals;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const killSteps = {};
  for (const kill of f.crash.kills)
    killSteps[kill.lastLoggedStep ?? 'between jobs'] =
      (killSteps[kill.lastLoggedStep ?? 'between jobs'] ?? 0) + 1;
  const row = (cells) => `| ${cells.join(' | ')} |`;
  const cell = (text) =>
    String(text ?? '')
      .replaceAll('|', '\\|')
      .replaceAll('\n', ' ');
  const lines = [
    '# Reliability',
    '',
    `Figures produced by \`${f.command}\` (scripts/chaos.mjs) on ${new Date().toISOString().slice(0, 10)}, on ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}; seed ${f.seed}; ${f.wallSeconds} s of wall time. Every process is real (the built \`gao-migrate\` CLI, \`redis-server\`, SQLite files); nothing is mocked. The bounded form of the same scenarios runs in \`npm test\` (tests/reliability/).`,
    '',
    '## Summary',
    '',
    row(['figure', 'value']),
    row(['---', '---:']),
    row(['jobs run (up, down, across every scenario)', t.jobs]),
    row(['jobs failed', t.failedJobs]),
    row([
      'crashes injected (kill -9 of workers, of `up` during its backup, of a producer; Redis kill -9)',
      t.crashesInjected,
    ]),
    row(['worker kills / restarts', `${t.workerKills} / ${t.workerRestarts}`]),
    row(['databases checked (integrity_check, state hash, learnings, tables, backups)', t.databasesChecked]),
    row(['**corrupt databases**', `**${t.corrupt}**`]),
    row(['databases in neither the before nor the after state', t.neitherState]),
    row(['databases not in the state their last finished job left them in', t.wrongState]),
    row([
      '**lost rows** (learnings lost + committed writes of another process lost)',
      `**${t.lostLearnings + t.lostWrites}**`,
    ]),
    row(['**migrations applied twice**', `**${t.appliedTwice}**`]),
    row(['half-built tables left', t.strayTables]),
    row([
      'backups checked (quick_check, and content equal to their source; beside a writer, which changes the rows, the 005 or 006 schema) / bad',
      `${t.backupsChecked} / ${t.badBackups}`,
    ]),
    row(["files with a backup's name that are not complete backups", t.partialsNamedLikeBackups]),
    row([
      'temporary `.partial-<pid>` files left by killed backups (never named like a backup)',
      t.partialFiles,
    ]),
    row(['overlapping file-lock holds on one database (2 and 4 workers)', t.lockOverlaps]),
    '',
    '## Scenarios',
    '',
    `1. **kill -9 of \`gao-migrate worker\`** during ${f.crash.upJobs} up and ${f.crash.downJobs} down jobs on ${f.plan.databases} databases of ${f.plan.learnings.toLocaleString('en-US')} learnings (half rollback-journal, half WAL), ${f.plan.rounds} rounds: ${f.crash.kills.length} kills at a random delay after a randomly chosen step, each followed by a restart (\`--stall-timeout 2000\`). Where the kills landed (last step the worker logged for the job): ${Object.entries(
      killSteps,
    )
      .map(([step, n]) => `${step} ${n}`)
      .join(
        ', ',
      )}. One job was killed ${f.crash.mostKillsOfOneJob} times (BullMQ stalled counter ${f.crash.maxStalledCounter}) and ended \`${f.crash.repeatedJob?.state}\` (\`${f.crash.repeatedJob?.status}\`). Jobs completed: ${f.crash.completed}/${f.crash.jobs}; ${f.crash.summary.finishedByEarlierAttempt} of them had been killed after their commit, and their re-run found the change made (\`already-applied\` or \`not-applied\`); migrations applied twice: ${f.crash.summary.appliedTwice}. Databases not in the state their last finished job left them in: ${f.crash.summary.wrongState}; ${f.crash.summary.backups} backups checked, ${f.crash.summary.badBackups} bad.`,
    `2. **Two and four workers** over the same 6 databases, each database given 3 up jobs then 3 down jobs: ${f.contend.map((c) => `${c.workers} workers: ${c.completed}/${c.jobs} jobs completed (per worker ${c.jobsPerWorker.join(', ')}), ${c.overlaps} overlapping lock holds, ${c.databases.filter((d) => d.applied === 1 && d.rolledBack === 1 && d.backupsAfterUp === 1 && d.rollbackBackups === 1).length}/${c.databases.length} databases applied once, rolled back once, with exactly one backup and one rollback backup`).join('; ')}.`,
    `3. **Another process writing** (one learning per short transaction, plus a read) during up and down jobs, holding its write lock past the worker's busy timeout once; in the last run, on a WAL database of 20,000 learnings, a reader then holds its snapshot for ${f.writer.at(-1)?.readerHoldMs ?? 0} ms while more jobs start, so the engine's checkpoint cannot finish and the backup must carry the WAL: ${f.writer
      .map(
        (w) =>
          `${w.mode}${w.readerHoldMs ? ' with the reader' : ''}: ${w.completed}/${w.jobs} jobs completed, ${w.lockedRetries} DB_LOCKED failures retried, ${w.writerCommitted} writes committed, ${w.lostWrites} lost, integrity ${w.integrity}, backups by method ${Object.entries(
            w.backupMethods,
          )
            .map(([method, n]) => `${method} ${n}`)
            .join(', ')}`,
      )
      .join('; ')}.`,
    `4. **kill -9 of a producer** (\`gao-migrate enqueue up --from-file\` of ${f.producer.databases} databases) with ${f.producer.jobsAtKill} jobs enqueued; the same command again added the rest (${f.producer.jobsAfterRerun} jobs, none twice); ${f.producer.completed} completed, ${f.producer.databasesWithOneBackup}/${f.producer.databases} databases with exactly one backup.`,
    `5. **Redis kill -9 and restart mid-rollout** (append-only Redis, as in docker-compose.yml; 2 workers, ${f.rollout.databases} databases, canary 1) after ${f.rollout.completedAtRestart} databases were done: the rollout ended \`${f.rollout.rolloutState}\`, ${f.rollout.databasesWithOneBackup}/${f.rollout.databases} databases migrated with exactly one backup. (A Redis without persistence loses the queue on a restart: workers reconnect, and the rollout must be started again; tests/worker/redis-restart.test.ts.)`,
    `6. **Redis unreachable at start**: \`enqueue\` exited ${f.unreachable.producerExit} with \`${f.unreachable.producerCode}\` after ${f.unreachable.producerMs} ms ("${cell(f.unreachable.producerMessage)}"); a worker stayed up (${f.unreachable.workerRedisErrorsLogged} error line logged, not one per retry), reconnected when Redis started, and the job then ended \`${f.unreachable.jobAfterRedisStarted}\`.`,
    `7. **kill -9 of \`gao-migrate up\` during its backup** (${f.plan.learnings.toLocaleString('en-US')} learnings; the kill lands 0-40 ms after the temporary file appears): ${f.backupKill.kills} kills, ${f.backupKill.runs.filter((r) => r.finalNamedBackups === 0).length} left no file with a backup's name, the database stayed before \`up\` each time; the next \`up\` ended \`${f.backupKill.finalStatus}\` with ${f.backupKill.final.backups.length} checked backup. The killed runs left ${f.backupKill.final.partials.length} \`*.partial-<pid>\` files (not named like backups; safe to delete).`,
    `8. **Disk nearly full** (${f.disk.method}): \`${f.disk.code}\`${f.disk.exit !== null ? `, exit ${f.disk.exit}` : ''}, every file unchanged: ${f.disk.unchanged}. "${cell(f.disk.message)}"`,
    '',
    '## Hostile inputs',
    '',
    `${f.hostile.length} inputs, generated by tests/reliability/hostile-input.test.ts (which asserts each line: one sentence, a stable code, exit 2 or a failed job without retry, every file byte-for-byte unchanged); the test file ${f.hostileTestsPassed ? 'passed' : '**failed**'} in this run.`,
    '',
    row(['#', 'input', 'via', 'answer', 'code', 'exit / attempts', 'files unchanged']),
    row(['---', '---', '---', '---', '---', '---', '---']),
    ...f.hostile.map((c, index) =>
      row([
        index + 1,
        cell(c.name),
        c.via,
        cell(c.message),
        `\`${c.code}\``,
        c.via === 'job' ? `failed, attempts ${c.attemptsMade}` : `exit ${c.exit}`,
        c.unchanged ? 'yes' : 'NO',
      ]),
    ),
    '',
    '## Reproduce',
    '',
    '```sh',
    f.command,
    'npm run chaos -- --quick   # a few minutes',
    '```',
    '',
  ];
  return `${lines.join('\n')}\n`;
}
