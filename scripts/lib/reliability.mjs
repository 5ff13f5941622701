// Fault-injection harness shared by `npm run chaos` (scripts/chaos.mjs) and the bounded tests in
// tests/reliability/. Real processes (the built `gao-migrate` CLI), a real redis-server and real SQLite files:
// nothing here is mocked. Every scenario returns its figures and the evidence they were computed from.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Queue } from 'bullmq';
import { Migrator } from '../../dist/engine/migrator.js';
import { connectionOptionsFromUrl } from '../../dist/queue/connection.js';
import { defaultJobOptions } from '../../dist/queue/job-options.js';
import { freePort } from '../../dist/queue/local-redis.js';
import { createSampleDatabase } from '../../dist/sample/create-sample-database.js';
// Deterministic random numbers, so a chaos run can be replayed from its seed.
import { seededRandom } from '../../dist/sample/seeded-random.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = path.join(REPO, 'bin', 'gao-migrate.js');
const WRITER = fileURLToPath(new URL('./writer-process.mjs', import.meta.url));

/** A backup's final name: `<stem>.<kind>_<UTC stamp>.db`. */
export const BACKUP_NAME = /^(.+)\.(backup|rollback_backup|pre_restore_backup)_(\d{8}T\d{9}Z)\.db$/;
/** Engine steps a worker logs for each job, in order (the kill points). */
export const KILL_STEPS = ['lock', 'preconditions', 'backup', 'migrate', 'verify', 'commit'];

export async function waitUntil(check, what, { timeoutMs = 60_000, intervalMs = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function tempRoot(prefix = 'gao-migrate-chaos-') {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

// ---------------------------------------------------------------------------------------------------------
// Processes

/** Every child this module started and has not seen exit: `stopAll()` kills them (afterAll, chaos's end). */
const running = new Set();

/**
 * Runs `node bin/gao-migrate.js ...args` and keeps its output: parsed pino lines from stderr in `lines`.
 * `kill9()` is a crash (SIGKILL) and waits for the exit.
 */
export function spawnCli(args, { env = {}, cwd = REPO } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const proc = { child, pid: child.pid, lines: [], stdout: '', stderr: '' };
  let pending = '';
  child.stdout.on('data', (chunk) => {
    proc.stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk) => {
    const text = chunk.toString();
    proc.stderr += text;
    pending += text;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) {
      try {
        proc.lines.push(JSON.parse(part));
      } catch {
        // not a log line
      }
    }
  });
  proc.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  proc.alive = () => child.exitCode === null && child.signalCode === null;
  proc.waitForLine = (predicate, what, options = {}) =>
    waitUntil(
      () => {
        const found = proc.lines.find(predicate);
        if (found) return found;
        if (!proc.alive()) throw new Error(`gao-migrate ${args[0]} exited: ${proc.stderr.slice(-1500)}`);
        return undefined;
      },
      what,
      options,
    );
  proc.kill9 = async () => {
    if (proc.alive()) child.kill('SIGKILL');
    return proc.exited;
  };
  proc.stop = async () => {
    if (proc.alive()) child.kill('SIGTERM');
    return proc.exited;
  };
  return proc;
}

/** `gao-migrate worker` as a child process, resolved once it logged "worker started". */
export async function startWorker({
  redisUrl,
  queueName,
  roots,
  stallTimeoutMs = 2000,
  args = [],
  env = {},
}) {
  const proc = spawnCli(
    ['worker', '--stall-timeout', String(stallTimeoutMs), '--lock-timeout', '60000', ...args],
    {
      env: {
        REDIS_URL: redisUrl,
        GAO_MIGRATE_QUEUE: queueName,
        GAO_MIGRATE_ROOTS: roots.join(path.delimiter),
        ...env,
      },
    },
  );
  await proc.waitForLine((line) => line.msg === 'worker started', 'the worker to start');
  return proc;
}

/** Runs the CLI to its end. */
export async function runCli(args, options = {}) {
  const proc = spawnCli(args, options);
  const { code, signal } = await proc.exited;
  return { code, signal, stdout: proc.stdout, stderr: proc.stderr, lines: proc.lines };
}

export async function stopAll() {
  for (const child of [...running]) child.kill('SIGKILL');
  await waitUntil(() => running.size === 0, 'children to exit', { timeoutMs: 10_000 });
}

/**
 * A private redis-server on a free loopback port (or `port`), with an optional password and optional
 * append-only persistence (fsync on every write), so that a restart can keep or lose the queue.
 */
export async function startRedisServer({ password, persistent = false, port } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-chaos-redis-'));
  const listen = port ?? (await freePort());
  const args = ['--port', String(listen), '--bind', '127.0.0.1', '--save', '', '--dir', dir];
  args.push('--appendonly', persistent ? 'yes' : 'no', '--appendfsync', 'always');
  if (password) args.push('--requirepass', password);
  let child;
  const launch = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    running.add(child);
    const started = child;
    started.once('exit', () => running.delete(started));
    await waitUntil(() => redisAnswers(listen), `redis-server on port ${listen}`, { timeoutMs: 15_000 });
  };
  const halt = async (signal) => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill(signal);
    await exited;
  };
  await launch();
  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  return {
    port: listen,
    url: `redis://${auth}127.0.0.1:${listen}`,
    dir,
    /** Crash (SIGKILL) and start again on the same port and data directory. */
    restart: async () => {
      await halt('SIGKILL');
      await launch();
    },
    stop: async () => {
      await halt('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True when something on the port answers like Redis (PONG, or NOAUTH from a password-protected one). */
export function redisAnswers(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = (answer) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

export function openQueue(redisUrl, queueName) {
  const queue = new Queue(queueName, { connection: connectionOptionsFromUrl(redisUrl) });
  queue.on('error', () => {
    // A Redis restart drops the connection; commands retry.
  });
  return queue;
}

// ---------------------------------------------------------------------------------------------------------
// Databases and their checks

/**
 * sha256 of a database's schema (type, name, table, SQL) and of every table's rows by rowid. Clock readings are
 * left out (`schema_version.applied_at`, `gao_migrate_history.recorded_at`); `sqlite_sequence` goes by name.
 */
export function stateHash(dbPath) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const schema = db
      .prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name')
      .raw()
      .all();
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    const rows = tables.map((table) => {
      const quoted = `"${table.replaceAll('"', '""')}"`;
      if (table === 'sqlite_sequence')
        return [table, db.prepare(`SELECT name, seq FROM ${quoted} ORDER BY name`).raw().all()];
      if (table === 'schema_version')
        return [table, db.prepare(`SELECT version, description FROM ${quoted} ORDER BY version`).raw().all()];
      if (table === 'gao_migrate_history')
        return [
          table,
          db.prepare(`SELECT migration, table_name, table_sql FROM ${quoted} ORDER BY 1, 2`).raw().all(),
        ];
      try {
        return [table, db.prepare(`SELECT rowid, * FROM ${quoted} ORDER BY rowid`).raw().all()];
      } catch {
        return [table, db.prepare(`SELECT * FROM ${quoted}`).raw().all().map(String).sort()];
      }
    });
    const hash = createHash('sha256');
    hash.update(
      JSON.stringify({ schema, rows }, (_key, value) => (typeof value === 'bigint' ? String(value) : value)),
    );
    return hash.digest('hex');
  } finally {
    db.close();
  }
}

/** sha256 of the schema alone (for databases another process also wrote rows to). */
export function schemaHash(dbPath) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const schema = db
      .prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name')
      .raw()
      .all();
    return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
  } finally {
    db.close();
  }
}

function tableNames(dbPath) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
  } finally {
    db.close();
  }
}

/**
 * A pristine 005 database and what it looks like after `up` (migrated on a copy by the engine itself): the two
 * states a database may be in after any crash.
 */
export function makeTemplate(dir, { learnings, wal = false, seed = 1 }) {
  const home = path.join(dir, `template-${learnings}-${wal ? 'wal' : 'rollback'}-${seed}`);
  const pristine = path.join(home, 'pristine.db');
  createSampleDatabase(pristine, { learnings, wal, seed, epics: 10, documents: 30 });
  const migratedDir = path.join(home, 'migrated');
  fs.mkdirSync(migratedDir);
  const migrated = path.join(migratedDir, 'documents.db');
  fs.copyFileSync(pristine, migrated);
  const result = new Migrator().up({ dbPath: migrated });
  if (result.status !== 'applied') throw new Error(`template migration failed: ${result.error?.message}`);
  const template = {
    path: pristine,
    wal,
    learnings,
    beforeHash: stateHash(pristine),
    afterHash: stateHash(migrated),
    beforeSchema: schemaHash(pristine),
    afterSchema: schemaHash(migrated),
    tables: [...new Set([...tableNames(pristine), ...tableNames(migrated)])],
  };
  fs.rmSync(migratedDir, { recursive: true, force: true });
  return template;
}

export function cloneTemplate(template, dbPath) {
  fs.mkdirSync(path.dirname(dbPath), { recursive: true });
  fs.copyFileSync(template.path, dbPath);
  return dbPath;
}

function countOf(dbPath, sql) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).pluck().get();
  } finally {
    db.close();
  }
}

/**
 * Everything a crash may have broken, for one database: integrity, which state it is in (`before`, `after` or
 * `neither`), learnings lost, tables that belong to neither state (a half-built rebuild), and every file beside
 * it: backups (each must pass quick_check and hold the state it was taken from) and temporary `.partial-` files
 * (none may carry a backup's name).
 */
export function checkDatabase(dbPath, template) {
  const integrity = countOf(dbPath, 'PRAGMA integrity_check');
  const hash = stateHash(dbPath);
  const state = hash === template.beforeHash ? 'before' : hash === template.afterHash ? 'after' : 'neither';
  const learnings = countOf(dbPath, 'SELECT count(*) FROM learning_index');
  const strayTables = tableNames(dbPath).filter((table) => !template.tables.includes(table));
  const stem = path.parse(dbPath).name;
  const backups = [];
  const partials = [];
  for (const name of fs.readdirSync(path.dirname(dbPath)).sort()) {
    if (name.includes('.partial-')) {
      partials.push({ name, looksLikeBackup: BACKUP_NAME.test(name) });
      continue;
    }
    const match = BACKUP_NAME.exec(name);
    if (!match || match[1] !== stem) continue;
    const file = path.join(path.dirname(dbPath), name);
    let quick = 'unreadable';
    let backupHash = null;
    try {
      quick = countOf(file, 'PRAGMA quick_check');
      backupHash = stateHash(file);
    } catch (error) {
      quick = error.message;
    }
    // A backup before `up` holds the state before it; a rollback backup (before `down`) the state after `up`.
    const expected = match[2] === 'rollback_backup' ? template.afterHash : template.beforeHash;
    backups.push({
      name,
      kind: match[2],
      quickCheck: quick,
      matchesSource: backupHash === expected,
      checksum: checksumBeside(file),
    });
  }
  return {
    dbPath,
    integrity,
    state,
    learnings,
    lostLearnings: Math.max(0, template.learnings - learnings),
    strayTables,
    backups,
    badBackups: backups.filter(
      (backup) => backup.quickCheck !== 'ok' || !backup.matchesSource || backup.checksum !== 'matches',
    ).length,
    partials,
  };
}

/**
 * Final state each database must be in, from its completed jobs replayed in the order they finished. A job
 * whose attempt was killed after its commit finds the change made when it runs again (`already-applied`,
 * `not-applied`): that is counted as `finishedByEarlierAttempt`. Two real changes in a row in the same
 * direction (`applied` after `applied`) would be a migration applied twice.
 */
export function replayJobs(jobs) {
  const byDb = new Map();
  for (const job of jobs) {
    if (!byDb.has(job.dbPath)) byDb.set(job.dbPath, []);
    byDb.get(job.dbPath).push(job);
  }
  const outcome = new Map();
  for (const [dbPath, list] of byDb) {
    list.sort((a, b) => a.finishedOn - b.finishedOn);
    let state = 'before';
    let lastChange = null;
    let appliedTwice = 0;
    let finishedByEarlierAttempt = 0;
    for (const job of list) {
      if (job.state !== 'completed') continue;
      if (job.status === 'applied' || job.status === 'rolled-back') {
        if (lastChange === job.status) appliedTwice++;
        lastChange = job.status;
        state = job.status === 'applied' ? 'after' : 'before';
      } else if (job.status === 'already-applied' || job.status === 'not-applied') {
        const found = job.status === 'already-applied' ? 'after' : 'before';
        if (found !== state) {
          finishedByEarlierAttempt++;
          lastChange = job.status === 'already-applied' ? 'applied' : 'rolled-back';
        }
        state = found;
      }
    }
    outcome.set(dbPath, { expectedState: state, appliedTwice, finishedByEarlierAttempt });
  }
  return outcome;
}

/** Every job of the queue with what the checks need. */
export async function collectJobs(queue) {
  const jobs = await queue.getJobs(
    ['completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized'],
    0,
    -1,
  );
  return Promise.all(
    jobs.map(async (job) => ({
      id: String(job.id),
      name: job.name,
      dbPath: job.data?.dbPath,
      state: await job.getState(),
      status: job.returnvalue?.status ?? null,
      backupPath: job.returnvalue?.backupPath ?? null,
      failedReason: job.failedReason ?? null,
      attemptsMade: job.attemptsMade,
      stalledCounter: job.stalledCounter ?? 0,
      finishedOn: job.finishedOn ?? 0,
    })),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Scenarios

/**
 * kill -9 of a `gao-migrate worker` at random moments during up and down jobs, restarting it each time.
 * `rounds` jobs per database alternate up and down; `kills` crashes are injected after a randomly chosen step
 * plus a random delay, and the first `sameJobKills` of them hit one job again and again.
 */
export async function crashWorkers({
  redisUrl,
  root,
  templates,
  databases,
  rounds,
  kills,
  sameJobKills = 3,
  maxDelayMs = 150,
  stallTimeoutMs = 2000,
  seed = 1,
  timeoutMs = 600_000,
  log = () => {},
}) {
  const random = seededRandom(seed);
  const queueName = `chaos-crash-${process.pid}-${Date.now()}`;
  const queue = openQueue(redisUrl, queueName);
  const dbs = [];
  for (let index = 0; index < databases; index++) {
    const template = templates[index % templates.length];
    dbs.push({
      template,
      dbPath: cloneTemplate(template, path.join(root, `project-${index}`, '.gao-dev', 'documents.db')),
    });
  }
  const start = () => startWorker({ redisUrl, queueName, roots: [root], stallTimeoutMs });
  let worker = await start();
  let restarts = 0;
  let added = 0;
  const injected = [];
  const finished = async () => (await queue.getCompletedCount()) + (await queue.getFailedCount()) === added;
  // The job killed again and again is the first database's first job. Its database is held under a write lock
  // until the last of those kills, so the job waits in its engine's lock step for SQLite (busy timeout 5 s) and
  // each kill lands inside it, however fast the machine: no race with the job finishing first.
  const target = sameJobKills > 0 ? 'r0-db0' : undefined;
  const releaseTarget = target ? holdWriteLock(dbs[0].dbPath) : () => {};
  // One wave per round (every database up, then every database down, ...), each with its share of the kills,
  // so that crashes land inside jobs rather than after the queue has drained.
  for (let round = 0; round < rounds; round++) {
    for (const [index, db] of dbs.entries()) {
      await queue.add(
        round % 2 === 0 ? 'migrate-up' : 'migrate-down',
        { dbPath: db.dbPath },
        { ...defaultJobOptions(5), jobId: `r${round}-db${index}` },
      );
      added++;
    }
    const repeats = Math.min(sameJobKills, kills);
    const killsBy = repeats + Math.round(((kills - repeats) * (round + 1)) / rounds);
    while (injected.length < killsBy && !(await finished())) {
      // The target job is killed each time a worker takes it up, `sameJobKills` times, right after its
      // preconditions start; the other kills land at random steps of whatever job runs.
      const repeat = injected.length < sameJobKills;
      const step = repeat ? 'preconditions' : KILL_STEPS[Math.floor(random() * KILL_STEPS.length)];
      const seen = worker.lines.length;
      let line;
      try {
        line = await waitUntil(
          async () =>
            worker.lines
              .slice(seen)
              .find((entry) => entry.step === step && entry.jobId && (!repeat || entry.jobId === target)) ??
            ((await finished()) ? 'done' : undefined),
          `a job to reach step ${step}`,
          { timeoutMs: 60_000, intervalMs: 2 },
        );
      } catch {
        line = 'done';
      }
      if (line === 'done') break;
      const delayMs = Math.floor(random() * (repeat ? 20 : maxDelayMs));
      await sleep(delayMs);
      const lastStep = [...worker.lines]
        .reverse()
        .find((entry) => entry.jobId === line.jobId && entry.step)?.step;
      await worker.kill9();
      injected.push({ jobId: line.jobId, afterStep: step, delayMs, lastLoggedStep: lastStep });
      log(
        `kill -9 #${injected.length}: job ${line.jobId} ${delayMs} ms after step ${step} (last logged: ${lastStep})`,
      );
      if (injected.length === sameJobKills) releaseTarget();
      worker = await start();
      restarts++;
    }
    await waitUntil(finished, `every job of round ${round + 1} to finish`, { timeoutMs, intervalMs: 100 });
  }
  releaseTarget();
  await worker.stop();
  const jobs = await collectJobs(queue);
  await queue.obliterate({ force: true });
  await queue.close();

  const replay = replayJobs(jobs);
  const checks = dbs.map((db) => {
    const check = checkDatabase(db.dbPath, db.template);
    const expected = replay.get(db.dbPath);
    return {
      ...check,
      expectedState: expected?.expectedState,
      appliedTwice: expected?.appliedTwice ?? 0,
      finishedByEarlierAttempt: expected?.finishedByEarlierAttempt ?? 0,
    };
  });
  const killsPerJob = new Map();
  for (const kill of injected) killsPerJob.set(kill.jobId, (killsPerJob.get(kill.jobId) ?? 0) + 1);
  return {
    jobs: added,
    upJobs: jobs.filter((job) => job.name === 'migrate-up').length,
    downJobs: jobs.filter((job) => job.name === 'migrate-down').length,
    completed: jobs.filter((job) => job.state === 'completed').length,
    failed: jobs.filter((job) => job.state === 'failed'),
    kills: injected,
    restarts,
    mostKillsOfOneJob: Math.max(0, ...killsPerJob.values()),
    repeatedJob: target ? jobs.find((job) => job.id === target) : undefined,
    maxStalledCounter: Math.max(0, ...jobs.map((job) => job.stalledCounter)),
    databases: checks,
    summary: summarize(checks),
  };
}

/** Takes SQLite's write lock on a database (BEGIN IMMEDIATE) and returns what gives it back (safe to call twice). */
function holdWriteLock(dbPath) {
  const db = new Database(dbPath);
  db.exec('BEGIN IMMEDIATE');
  return () => {
    if (!db.open) return;
    db.exec('ROLLBACK');
    db.close();
  };
}

/** Totals over database checks. */
export function summarize(checks) {
  return {
    databasesChecked: checks.length,
    corrupt: checks.filter((check) => check.integrity !== 'ok').length,
    neitherState: checks.filter((check) => check.state === 'neither').length,
    wrongState: checks.filter((check) => check.expectedState && check.state !== check.expectedState).length,
    lostLearnings: checks.reduce((sum, check) => sum + check.lostLearnings, 0),
    strayTables: checks.reduce((sum, check) => sum + check.strayTables.length, 0),
    appliedTwice: checks.reduce((sum, check) => sum + (check.appliedTwice ?? 0), 0),
    finishedByEarlierAttempt: checks.reduce((sum, check) => sum + (check.finishedByEarlierAttempt ?? 0), 0),
    backups: checks.reduce((sum, check) => sum + check.backups.length, 0),
    badBackups: checks.reduce((sum, check) => sum + check.badBackups, 0),
    partialFiles: checks.reduce((sum, check) => sum + check.partials.length, 0),
    partialsNamedLikeBackups: checks.reduce(
      (sum, check) => sum + check.partials.filter((partial) => partial.looksLikeBackup).length,
      0,
    ),
  };
}

/**
 * `workers` worker processes over the same databases: each database gets `copies` up jobs, then `copies` down
 * jobs. File-lock holds (from the workers' logs) must never overlap on one database; exactly one job per
 * direction may change it, so there is exactly one backup and one rollback backup per database.
 */
export async function contendWorkers({
  redisUrl,
  root,
  template,
  workers,
  databases,
  copies = 3,
  timeoutMs = 120_000,
}) {
  const queueName = `chaos-contend-${workers}-${process.pid}-${Date.now()}`;
  const queue = openQueue(redisUrl, queueName);
  const dbs = [];
  for (let index = 0; index < databases; index++) {
    dbs.push(cloneTemplate(template, path.join(root, `w${workers}-db${index}`, '.gao-dev', 'documents.db')));
  }
  const procs = await Promise.all(
    Array.from({ length: workers }, () => startWorker({ redisUrl, queueName, roots: [root] })),
  );
  let added = 0;
  const phase = async (name) => {
    for (let copy = 0; copy < copies; copy++) {
      for (const [index, dbPath] of dbs.entries()) {
        await queue.add(name, { dbPath }, { ...defaultJobOptions(5), jobId: `${name}-${copy}-${index}` });
        added++;
      }
    }
    await waitUntil(
      async () => (await queue.getCompletedCount()) + (await queue.getFailedCount()) === added,
      `every ${name} job to finish`,
      { timeoutMs, intervalMs: 100 },
    );
  };
  await phase('migrate-up');
  const backupsAfterUp = dbs.map(
    (dbPath) => backupFiles(dbPath).filter((name) => name.includes('.backup_')).length,
  );
  await phase('migrate-down');
  await Promise.all(procs.map((proc) => proc.stop()));
  const jobs = await collectJobs(queue);
  await queue.obliterate({ force: true });
  await queue.close();

  const holds = procs.flatMap((proc) =>
    proc.lines
      .filter((line) => line.msg === 'file lock acquired')
      .map((acquired) => {
        const released = proc.lines.find(
          (line) => line.jobId === acquired.jobId && line.msg === 'releasing the file lock',
        );
        return {
          pid: proc.pid,
          jobId: acquired.jobId,
          db: acquired.realPath ?? acquired.db,
          from: Date.parse(acquired.time),
          to: released ? Date.parse(released.time) : Number.POSITIVE_INFINITY,
        };
      }),
  );
  let overlaps = 0;
  for (const dbPath of dbs) {
    const mine = holds.filter((hold) => hold.db === dbPath).sort((a, b) => a.from - b.from);
    for (let index = 1; index < mine.length; index++) if (mine[index].from < mine[index - 1].to) overlaps++;
  }
  const perDb = dbs.map((dbPath, index) => {
    const mine = jobs.filter((job) => job.dbPath === dbPath);
    const check = checkDatabase(dbPath, template);
    return {
      ...check,
      expectedState: 'before',
      applied: mine.filter((job) => job.status === 'applied').length,
      rolledBack: mine.filter((job) => job.status === 'rolled-back').length,
      backupsAfterUp: backupsAfterUp[index],
      rollbackBackups: check.backups.filter((backup) => backup.kind === 'rollback_backup').length,
      appliedTwice:
        Math.max(0, mine.filter((job) => job.status === 'applied').length - 1) +
        Math.max(0, mine.filter((job) => job.status === 'rolled-back').length - 1),
    };
  });
  return {
    workers,
    jobs: added,
    completed: jobs.filter((job) => job.state === 'completed').length,
    failed: jobs.filter((job) => job.state === 'failed'),
    jobsPerWorker: procs.map((proc) => holds.filter((hold) => hold.pid === proc.pid).length),
    lockHolds: holds.length,
    overlaps,
    databases: perDb,
    summary: summarize(perDb),
  };
}

/**
 * Whether the `<backup>.sha256` beside a backup holds its SHA-256 as `sha256sum` writes it. The engine links the
 * checksum before the backup, so a kill never leaves a backup without it.
 */
function checksumBeside(backup) {
  let line;
  try {
    line = fs.readFileSync(`${backup}.sha256`, 'utf8');
  } catch {
    return 'absent';
  }
  const hash = createHash('sha256').update(fs.readFileSync(backup)).digest('hex');
  return line === `${hash}  ${path.basename(backup)}\n` ? 'matches' : 'differs';
}

function backupFiles(dbPath) {
  return fs.readdirSync(path.dirname(dbPath)).filter((name) => BACKUP_NAME.test(name));
}

/**
 * Another process inserting learnings (and reading) in short transactions while a worker runs up, down, up,
 * down on the same database. Once, right as the first job starts, it holds its write lock longer than the
 * worker's busy timeout, so that job fails `DB_LOCKED` and must be retried. Every write it committed must be
 * in the database at the end.
 */
export async function writerDuringMigration({
  redisUrl,
  root,
  template,
  jobs = 4,
  busyTimeoutMs = 1000,
  holdMs = 2500,
  readerHoldMs = 0,
  readerJobs = 2,
  timeoutMs = 120_000,
}) {
  const mode = template.wal ? 'wal' : 'rollback';
  const queueName = `chaos-writer-${mode}-${process.pid}-${Date.now()}`;
  const queue = openQueue(redisUrl, queueName);
  const project = `writer-${mode}${readerHoldMs > 0 ? '-reader' : ''}-${template.learnings}`;
  const dbPath = cloneTemplate(template, path.join(root, project, '.gao-dev', 'documents.db'));
  const writer = spawn(process.execPath, [WRITER, dbPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(writer);
  const writerExited = new Promise((resolve) =>
    writer.once('exit', (code) => {
      running.delete(writer);
      resolve(code);
    }),
  );
  let out = '';
  let errors = '';
  writer.stdout.on('data', (chunk) => {
    out += chunk.toString();
  });
  writer.stderr.on('data', (chunk) => {
    errors += chunk.toString();
  });
  await waitUntil(() => out.includes('ready'), 'the writer to start');
  const worker = await startWorker({
    redisUrl,
    queueName,
    roots: [root],
    args: ['--busy-timeout', String(busyTimeoutMs)],
  });
  for (let index = 0; index < jobs; index++) {
    await queue.add(
      index % 2 === 0 ? 'migrate-up' : 'migrate-down',
      { dbPath },
      { ...defaultJobOptions(8), jobId: `writer-${index}` },
    );
  }
  // Hold the write lock across the first job's BEGIN IMMEDIATE.
  await worker.waitForLine(
    (line) => line.jobId === 'writer-0' && line.step === 'lock',
    'the first job to start',
  );
  writer.stdin.write(`hold ${holdMs}\n`);
  const finished = async () => (await queue.getCompletedCount()) + (await queue.getFailedCount());
  await waitUntil(async () => (await finished()) === jobs, 'every job next to the writer to finish', {
    timeoutMs,
    intervalMs: 100,
  });
  let total = jobs;
  if (readerHoldMs > 0) {
    // Then a reader holds its snapshot while the writes go on and more jobs start: in WAL mode it keeps the
    // engine's checkpoint from finishing, so their backups must carry the WAL's frames.
    writer.stdin.write(`read ${readerHoldMs}\n`);
    await waitUntil(() => out.includes('reading\n'), 'the reader to hold its snapshot');
    for (let index = jobs; index < jobs + readerJobs; index++) {
      await queue.add(
        index % 2 === 0 ? 'migrate-up' : 'migrate-down',
        { dbPath },
        { ...defaultJobOptions(8), jobId: `writer-${index}` },
      );
    }
    total += readerJobs;
    await waitUntil(async () => (await finished()) === total, 'the jobs beside the reader to finish', {
      timeoutMs,
      intervalMs: 100,
    });
  }
  writer.stdin.write('stop\n');
  await writerExited;
  await worker.stop();
  const all = await collectJobs(queue);
  await queue.obliterate({ force: true });
  await queue.close();
  const committed = out
    .split('\n')
    .filter((line) => line.startsWith('committed '))
    .map((line) => line.slice('committed '.length));
  const present = new Set(
    (() => {
      const db = new Database(dbPath, { readonly: true });
      try {
        return db.prepare("SELECT topic FROM learning_index WHERE topic LIKE 'writer-%'").pluck().all();
      } finally {
        db.close();
      }
    })(),
  );
  const lost = committed.filter((topic) => !present.has(topic));
  const learnings = countOf(dbPath, 'SELECT count(*) FROM learning_index');
  // The writer changes the rows, so a backup is judged by its soundness and its schema: before or after 006.
  const backups = fs.readdirSync(path.dirname(dbPath)).filter((name) => BACKUP_NAME.test(name));
  const badBackups = backups.filter((name) => {
    const backup = path.join(path.dirname(dbPath), name);
    const schema = schemaHash(backup);
    return (
      countOf(backup, 'PRAGMA quick_check') !== 'ok' ||
      (schema !== template.beforeSchema && schema !== template.afterSchema)
    );
  });
  const finalSchema = schemaHash(dbPath);
  const backupMethods = {};
  for (const line of worker.lines) {
    if (line.msg === 'backup written and checked')
      backupMethods[line.method] = (backupMethods[line.method] ?? 0) + 1;
  }
  return {
    mode,
    jobs: total,
    readerHoldMs,
    backupMethods,
    backups: backups.length,
    badBackups: badBackups.length,
    completed: all.filter((job) => job.state === 'completed').length,
    // Jobs that changed the database: a job retried after DB_LOCKED may run after the next one and then find
    // nothing to do (already-applied, not-applied), which takes no backup.
    changes: all.filter((job) => job.status === 'applied' || job.status === 'rolled-back').length,
    // Backups a job reported that are not beside the database.
    missingBackups: all.filter((job) => job.backupPath && !fs.existsSync(job.backupPath)).length,
    failed: all.filter((job) => job.state === 'failed'),
    retriedJobs: all.filter((job) => job.attemptsMade > 1).length,
    lockedRetries: worker.lines.filter(
      (line) => line.step === 'retry' && String(line.msg).startsWith('DB_LOCKED'),
    ).length,
    writerCommitted: committed.length,
    writerBusy: out.split('\n').filter((line) => line.startsWith('busy')).length,
    writerErrors: errors.trim(),
    lostWrites: lost.length,
    unexpectedRows: learnings - template.learnings - committed.length,
    integrity: countOf(dbPath, 'PRAGMA integrity_check'),
    state:
      finalSchema === template.beforeSchema
        ? 'before'
        : finalSchema === template.afterSchema
          ? 'after'
          : 'neither',
    expectedState: replayJobs(all).get(dbPath)?.expectedState,
  };
}

/**
 * kill -9 of `gao-migrate up` while it writes its backup: the kill comes a random delay after the temporary
 * `.partial-<pid>` file appears. No file may be left with a backup's name unless it is a complete, checked
 * backup; the database must still be before `up`; a final `up` must then work and leave one good backup.
 * Killed attempts follow one another on the same database (each finds the last one's leftovers). An attempt
 * that got past its commit before the kill (or finished) is not counted as a kill during the backup: the next
 * one waits at most half as long and starts from a fresh copy.
 */
export async function killDuringBackup({ root, template, attempts = 5, maxDelayMs = 40, seed = 7 }) {
  const random = seededRandom(seed);
  const dbPath = cloneTemplate(template, path.join(root, 'backup-kill', '.gao-dev', 'documents.db'));
  const dir = path.dirname(dbPath);
  const runs = [];
  let delayBound = maxDelayMs;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const delayMs = Math.floor(random() * delayBound);
    let sawPartial = false;
    const proc = spawnCli(['up', '--db', dbPath, '--json'], { env: { GAO_MIGRATE_LOG_LEVEL: 'silent' } });
    const watcher = fs.watch(dir, (_event, name) => {
      if (!sawPartial && name && String(name).includes('.partial-')) {
        sawPartial = true;
        setTimeout(() => proc.child.kill('SIGKILL'), delayMs);
      }
    });
    const { code, signal } = await proc.exited;
    watcher.close();
    const check = checkDatabase(dbPath, template);
    runs.push({
      delayMs,
      killed: signal === 'SIGKILL',
      exitCode: code,
      stateAfterKill: check.state,
      finalNamedBackups: check.backups.length,
      badBackups: check.badBackups,
      partialsLeft: check.partials.length,
      partialsNamedLikeBackups: check.partials.filter((partial) => partial.looksLikeBackup).length,
    });
    if (check.state !== 'before') {
      // The run got past its commit before the kill landed (a fast machine): aim earlier next time, and start
      // from a fresh copy, so that every attempt, and the final run, find the database before `up`.
      delayBound = Math.max(1, Math.floor(delayBound / 2));
      fs.rmSync(dir, { recursive: true, force: true });
      cloneTemplate(template, dbPath);
    }
  }
  const killedRuns = runs.filter((run) => run.killed && run.stateAfterKill === 'before');
  const final = await runCli(['up', '--db', dbPath, '--json'], { env: { GAO_MIGRATE_LOG_LEVEL: 'silent' } });
  const check = checkDatabase(dbPath, template);
  return {
    runs,
    /** Kills that landed before the commit (the database found before `up`). */
    kills: killedRuns.length,
    finalExit: final.code,
    finalStatus: JSON.parse(final.stdout || '{}').status,
    final: check,
  };
}

/**
 * Disk nearly full: the database on a small tmpfs (mounted here when the machine allows it), too small for a
 * backup. Otherwise the engine's free-space threshold (`reserveBytes`) makes the same check refuse. A dry run
 * goes first (`dryRun`): it must foresee the refusal, and write nothing either.
 */
export async function diskNearlyFull({ root, learnings = 3000 }) {
  const mountPoint = path.join(root, 'small-disk');
  fs.mkdirSync(mountPoint, { recursive: true });
  const probe = path.join(root, 'probe.db');
  createSampleDatabase(probe, { learnings, seed: 3 });
  const size = fs.statSync(probe).size;
  // Room for the database and a quarter more: not for its backup, the migration's growth and the 1 MiB reserve.
  const tmpfsBytes = Math.ceil((size * 1.25) / 4096) * 4096;
  const mounted = await runCommand('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsBytes}`, 'tmpfs', mountPoint]);
  const method = mounted.code === 0 ? `tmpfs of ${tmpfsBytes} bytes` : 'free-space threshold (reserveBytes)';
  try {
    const dbPath = path.join(mountPoint, 'documents.db');
    fs.copyFileSync(probe, dbPath);
    const before = snapshotDir(mountPoint);
    const up = async (args) => {
      if (mounted.code === 0) {
        const run = await runCli(['up', '--db', dbPath, '--json', ...args], {
          env: { GAO_MIGRATE_LOG_LEVEL: 'silent' },
        });
        const parsed = JSON.parse(run.stdout);
        return { code: parsed.error?.code, exit: run.code, message: parsed.error?.message };
      }
      const free = fs.statfsSync(mountPoint);
      const result = new Migrator({ reserveBytes: free.bavail * free.bsize }).up({
        dbPath,
        dryRun: args.includes('--dry-run'),
      });
      return { code: result.error?.code, exit: null, message: result.error?.message };
    };
    const dryRun = await up(['--dry-run']);
    const dryRunUnchanged = JSON.stringify(snapshotDir(mountPoint)) === JSON.stringify(before);
    const { code, exit, message } = await up([]);
    const after = snapshotDir(mountPoint);
    return {
      method,
      mountError: mounted.code === 0 ? null : mounted.stderr.trim(),
      code,
      exit,
      message,
      unchanged: JSON.stringify(before) === JSON.stringify(after),
      files: after,
      dryRun: { ...dryRun, unchanged: dryRunUnchanged },
    };
  } finally {
    if (mounted.code === 0) await runCommand('umount', [mountPoint]);
  }
}

/** Name -> sha256 of every file in a directory. */
export function snapshotDir(dir) {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((name) => {
        const file = path.join(dir, name);
        const stat = fs.lstatSync(file);
        return [
          name,
          stat.isFile()
            ? createHash('sha256').update(fs.readFileSync(file)).digest('hex')
            : stat.isDirectory()
              ? 'dir'
              : 'other',
        ];
      }),
  );
}

export function runCommand(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk.toString();
    });
    child.once('error', (error) => resolve({ code: -1, stdout, stderr: error.message }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * kill -9 of `gao-migrate enqueue up` half-way through a list of databases; then the same command again
 * (deduplication fills in the rest without repeating a job), a worker, and one backup per database.
 */
export async function killProducerMidEnqueue({ redisUrl, root, template, databases = 200 }) {
  const queueName = `chaos-producer-${process.pid}-${Date.now()}`;
  const queue = openQueue(redisUrl, queueName);
  const dbs = [];
  for (let index = 0; index < databases; index++) {
    dbs.push(cloneTemplate(template, path.join(root, `enqueue-${index}`, '.gao-dev', 'documents.db')));
  }
  const list = path.join(root, 'enqueue-list.txt');
  fs.writeFileSync(list, `${dbs.join('\n')}\n`);
  const env = { REDIS_URL: redisUrl, GAO_MIGRATE_QUEUE: queueName, GAO_MIGRATE_LOG_LEVEL: 'silent' };
  const target = Math.floor(databases / 3);
  const producer = spawnCli(['enqueue', 'up', '--from-file', list, '--json'], { env });
  await waitUntil(
    async () => !producer.alive() || (await queue.getWaitingCount()) >= target,
    'the producer to enqueue a third of the list',
    { timeoutMs: 60_000, intervalMs: 1 },
  );
  await producer.kill9();
  const atKill = await queue.getWaitingCount();
  const again = await runCli(['enqueue', 'up', '--from-file', list, '--json'], { env });
  const afterRetry = await queue.getWaitingCount();
  const worker = await startWorker({ redisUrl, queueName, roots: [root] });
  await waitUntil(
    async () => (await queue.getCompletedCount()) + (await queue.getFailedCount()) === afterRetry,
    'every enqueued job to finish',
    { timeoutMs: 180_000, intervalMs: 100 },
  );
  await worker.stop();
  const jobs = await collectJobs(queue);
  await queue.obliterate({ force: true });
  await queue.close();
  const checks = dbs.map((dbPath) => ({ ...checkDatabase(dbPath, template), expectedState: 'after' }));
  return {
    databases,
    jobsAtKill: atKill,
    killedMidway: atKill > 0 && atKill < databases,
    secondRunExit: again.code,
    jobsAfterRerun: afterRetry,
    completed: jobs.filter((job) => job.state === 'completed').length,
    failed: jobs.filter((job) => job.state === 'failed'),
    malformedJobs: jobs.filter((job) => typeof job.dbPath !== 'string' || job.name !== 'migrate-up').length,
    databasesWithOneBackup: checks.filter((check) => check.backups.length === 1).length,
    summary: summarize(checks),
  };
}

/**
 * Redis crashed (kill -9) and restarted while a fleet rollout runs, on a Redis with append-only persistence
 * (as the docker-compose file configures it). The rollout must end `completed`, each database migrated once.
 */
export async function redisRestartMidRollout({
  root,
  template,
  databases = 8,
  workers = 2,
  timeoutMs = 180_000,
}) {
  const redis = await startRedisServer({ persistent: true });
  const queueName = `chaos-rollout-${process.pid}-${Date.now()}`;
  const queue = openQueue(redis.url, queueName);
  try {
    const dbs = [];
    for (let index = 0; index < databases; index++) {
      dbs.push(cloneTemplate(template, path.join(root, `rollout-${index}`, '.gao-dev', 'documents.db')));
    }
    const procs = await Promise.all(
      Array.from({ length: workers }, () => startWorker({ redisUrl: redis.url, queueName, roots: [root] })),
    );
    const env = { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName, GAO_MIGRATE_LOG_LEVEL: 'silent' };
    const started = await runCli(
      [
        'fleet',
        'up',
        '--glob',
        path.join(root, 'rollout-*', '.gao-dev', 'documents.db'),
        '--canary',
        '1',
        '--json',
      ],
      { env },
    );
    const rolloutId = JSON.parse(started.stdout).rolloutId;
    // Restart once the canary is through and the rest is under way.
    await waitUntil(async () => (await queue.getCompletedCount()) >= 2, 'two databases to be migrated', {
      timeoutMs: 60_000,
    });
    const completedAtRestart = await queue.getCompletedCount();
    await redis.restart();
    let report;
    await waitUntil(
      async () => {
        const status = await runCli(['status', rolloutId, '--json'], { env });
        if (status.code === null) return false;
        try {
          report = JSON.parse(status.stdout);
        } catch {
          return false;
        }
        return report.state === 'completed' || report.state === 'halted';
      },
      'the rollout to end',
      { timeoutMs, intervalMs: 500 },
    );
    await Promise.all(procs.map((proc) => proc.stop()));
    const checks = dbs.map((dbPath) => ({ ...checkDatabase(dbPath, template), expectedState: 'after' }));
    return {
      databases,
      workers,
      rolloutId,
      completedAtRestart,
      rolloutState: report.state,
      counts: report.counts,
      databasesWithOneBackup: checks.filter((check) => check.backups.length === 1).length,
      summary: summarize(checks),
    };
  } finally {
    await queue.close();
    await redis.stop();
  }
}

/**
 * Redis unreachable at start: a worker keeps retrying (and then works once Redis appears); a producer fails
 * fast with `REDIS_UNAVAILABLE`, exit 2.
 */
export async function redisUnreachable({ root, template, waitBeforeStartMs = 3000 }) {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const queueName = `chaos-unreachable-${process.pid}-${Date.now()}`;
  const dbPath = cloneTemplate(template, path.join(root, 'unreachable', '.gao-dev', 'documents.db'));
  const env = { REDIS_URL: url, GAO_MIGRATE_QUEUE: queueName, GAO_MIGRATE_LOG_LEVEL: 'silent' };
  const startedAt = Date.now();
  const producer = await runCli(['enqueue', 'up', '--db', dbPath, '--json'], { env });
  const producerMs = Date.now() - startedAt;
  const worker = await startWorker({ redisUrl: url, queueName, roots: [root] });
  await sleep(waitBeforeStartMs);
  const aliveWithoutRedis = worker.alive();
  const redisErrors = worker.lines.filter((line) => line.msg === 'redis error').length;
  const redis = await startRedisServer({ port });
  try {
    await worker.waitForLine((line) => line.msg === 'redis connection restored', 'the worker to reconnect', {
      timeoutMs: 30_000,
    });
    const enqueue = await runCli(['enqueue', 'up', '--db', dbPath, '--wait', '--json'], {
      env: { ...env, REDIS_URL: redis.url },
    });
    await worker.stop();
    const parsed = JSON.parse(enqueue.stdout);
    return {
      producerExit: producer.code,
      producerCode: JSON.parse(producer.stdout || '{}').error?.code,
      producerMessage: JSON.parse(producer.stdout || '{}').error?.message,
      producerMs,
      workerAliveWithoutRedis: aliveWithoutRedis,
      workerRedisErrorsLogged: redisErrors,
      jobAfterRedisStarted: parsed.jobs?.[0]?.result?.status ?? parsed.jobs?.[0]?.state,
      final: checkDatabase(dbPath, template),
    };
  } finally {
    await redis.stop();
  }
}
