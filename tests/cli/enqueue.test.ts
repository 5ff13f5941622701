import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/producer/producer.js';
import { freePort } from '../../src/queue/local-redis.js';
import { createMigrationWorker, type MigrationWorker } from '../../src/worker/migration-worker.js';
import { addBackupsBeside, makeAppliedProject, makeFrozenProject } from '../fleet/helpers.js';
import { runCliAsync, startCli } from '../helpers/cli-async.js';
import { redisForFile } from '../helpers/redis.js';
import { captureLogger, sampleDb, sha256, tempDir } from '../queue/helpers.js';

const redis = redisForFile();
let queueName: string;
let dir: string;
let worker: MigrationWorker | undefined;

beforeEach(() => {
  queueName = `test-${randomUUID()}`;
  dir = tempDir();
});
afterEach(async () => {
  await worker?.close();
  worker = undefined;
  const producer = await createProducer({ redisUrl: redis.url, queueName });
  await producer.queue.obliterate({ force: true });
  await producer.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function startWorker() {
  worker = createMigrationWorker({
    redisUrl: redis.url,
    queueName,
    roots: [dir],
    logger: captureLogger().logger,
  });
}

/** Runs the CLI without blocking this process's event loop (the worker in this process keeps working). */
function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCliAsync(args, { cwd: dir, env: { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName, ...env } });
}

describe('gao-migrate enqueue', () => {
  it('queues every database a glob finds and, with --wait --json, prints each result', async () => {
    const dbs = [sampleDb(dir, 'one'), sampleDb(dir, 'two')];
    startWorker();
    const { code, stdout } = await run(['enqueue', 'up', '--glob', '**/documents.db', '--wait', '--json']);
    expect(code).toBe(0);
    const output = JSON.parse(stdout);
    expect(output).toMatchObject({ completed: 2, failed: 0 });
    expect(output.jobs.map((job: { dbPath: string }) => job.dbPath).sort()).toEqual([...dbs].sort());
    for (const job of output.jobs) {
      expect(job).toMatchObject({ state: 'completed', failedReason: null, result: { status: 'applied' } });
      expect(fs.existsSync(job.result.backupPath)).toBe(true);
      expect(typeof job.jobId).toBe('string');
    }
  });

  it('leaves out the backups a glob matches beside the databases, says so in one line, and never touches them', async () => {
    const dbs = [makeAppliedProject(dir, 'one'), makeAppliedProject(dir, 'two')];
    const backups = dbs.flatMap(addBackupsBeside).sort();
    const hashes = backups.map(sha256);
    startWorker();
    const line = `gao-migrate: left out 6 files --glob matched that are named as gao-migrate backups (${backups[0]}, …): a glob takes databases, not their backups.`;

    const json = await run(['enqueue', 'down', '--glob', '*/.gao-dev/*.db', '--wait', '--json']);
    expect(json.code).toBe(0);
    expect(json.stderr).toBe(`${line}\n`);
    const output = JSON.parse(json.stdout);
    expect(output).toMatchObject({ completed: 2, failed: 0, leftOutBackups: backups });
    expect(output.jobs.map((job: { dbPath: string }) => job.dbPath).sort()).toEqual([...dbs].sort());

    // No worker from here: without --wait, enqueue's exit code is that of the jobs' states as it reads them, and a
    // worker could already have run (and failed: the databases are rolled back) one of these verifies.
    await worker?.close();
    worker = undefined;
    const text = await run([
      'enqueue',
      'verify',
      '--glob',
      '*/.gao-dev/documents.backup_*.db',
      '--glob',
      '**/documents.db',
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Queued 2 job\(s\) on /);
    expect(text.stderr).toBe(
      `gao-migrate: left out 2 files --glob matched that are named as gao-migrate backups (${backups[0]}, …): a glob takes databases, not their backups. To verify a backup, give it with --db.\n` +
        `gao-migrate: no worker is running on queue ${queueName}; the jobs wait until one starts (gao-migrate worker --queue ${queueName} --roots DIR).\n`,
    );
    expect(backups.map(sha256)).toEqual(hashes);
  });

  it('refuses a backup given by --db or --from-file for up and down before it reaches Redis; verify takes one', async () => {
    const dbPath = makeAppliedProject(dir, 'named');
    const [backup, rollbackBackup] = addBackupsBeside(dbPath) as [string, string];
    const hashes = [dbPath, backup, rollbackBackup].map(sha256);
    fs.writeFileSync(path.join(dir, 'list.txt'), `${dbPath}\n${path.relative(dir, rollbackBackup)}\n`);
    // The engine's sentence, which a worker would fail the job with.
    const message = (given: string) =>
      `${given} is a backup gao-migrate made, which a change would leave no longer holding the database as it was: give the database itself (by the backup's name, ${dbPath}), or restore the backup into it first with \`gao-migrate restore --db ${dbPath} --from ${given}\`; nothing was changed.`;
    const sentence = (given: string) => `gao-migrate: ${message(given)} (DB_IS_BACKUP)\n`;
    const keys = new Redis(redis.url);
    try {
      for (const [args, given] of [
        [['enqueue', 'up', '--db', dbPath, '--db', backup], backup],
        [['enqueue', 'down', '--from-file', 'list.txt', '--json'], rollbackBackup],
        [['enqueue', 'up', '--db', rollbackBackup, '--dry-run'], rollbackBackup],
      ] as const) {
        const refused = await run([...args]);
        expect(refused.code, args.join(' ')).toBe(2);
        expect(refused.stderr, args.join(' ')).toBe(sentence(given));
        expect(await keys.keys(`*${queueName}*`)).toEqual([]);
      }
      const json = await run(['enqueue', 'up', '--db', backup, '--json']);
      expect(JSON.parse(json.stdout)).toEqual({
        ok: false,
        error: { code: 'DB_IS_BACKUP', message: message(backup), retryable: false },
      });
      expect(await keys.keys(`*${queueName}*`)).toEqual([]);
    } finally {
      keys.disconnect();
    }

    startWorker();
    const verify = await run(['enqueue', 'verify', '--db', backup, '--wait', '--json']);
    expect(verify.code).toBe(0);
    expect(verify.stderr).toBe('');
    expect(JSON.parse(verify.stdout)).toMatchObject({
      jobs: [{ dbPath: backup, state: 'completed', result: { status: 'verified' } }],
      leftOutBackups: [],
    });
    expect([dbPath, backup, rollbackBackup].map(sha256)).toEqual(hashes);
  });

  it('prints a summary table and exits 2 when a job failed', async () => {
    const good = sampleDb(dir, 'good');
    const bad = path.join(dir, 'bad.db');
    fs.writeFileSync(bad, 'not a database at all, just text that is long enough to be read as a header');
    fs.writeFileSync(path.join(dir, 'list.txt'), `# databases\n${good}\n\n${path.basename(bad)}\n`);
    startWorker();
    const { code, stdout } = await run(['enqueue', 'up', '--from-file', 'list.txt', '--wait']);
    expect(code).toBe(2);
    const [header, ...rows] = stdout.trim().split('\n');
    expect(header).toMatch(/^DATABASE\s+STATUS\s+BACKUP\s+DURATION\s+ERROR$/);
    expect(rows.find((row) => row.startsWith(good))).toMatch(
      /applied\s+\S+documents\.backup_\S+\.db\s+\d+ ms/,
    );
    expect(rows.find((row) => row.startsWith(bad))).toMatch(/failed.*NOT_A_DATABASE/);
    expect(stdout).toMatch(/1 completed, 1 failed/);
  });

  it('adds up under the table what the downs discarded, and with --dry-run what they would', async () => {
    makeAppliedProject(dir, 'unused');
    makeAppliedProject(dir, 'used', 2);
    startWorker();
    const glob = ['--glob', '**/documents.db', '--wait'];
    const planned = await run(['enqueue', 'down', ...glob, '--dry-run']);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toContain(
      'Would discard (a real run backs each database up first): 2 rows of learning_applications in 1 database; 1 row of learning_index (application_count, success_rate, confidence_score, decay_factor) in 1 database.',
    );
    const done = await run(['enqueue', 'down', ...glob]);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(
      "Discarded (each database's rollback backup keeps its own): 2 rows of learning_applications in 1 database; 1 row of",
    );
    const again = await run(['enqueue', 'down', ...glob]);
    expect(again.stdout).toContain('2 completed, 0 failed');
    expect(again.stdout).not.toContain('iscard');
  });

  it('shows the backup a failed job made, in its summary table and its --json result', async () => {
    const dbPath = makeFrozenProject(dir, 'frozen');
    startWorker();
    const table = await run(['enqueue', 'up', '--db', dbPath, '--attempts', '1', '--wait']);
    expect(table.code).toBe(2);
    const backupPath = /(\S+documents\.backup_\S+\.db)/.exec(table.stdout)?.[1] as string;
    expect(fs.existsSync(backupPath)).toBe(true);
    expect(table.stdout).toMatch(
      new RegExp(`failed\\s+${backupPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+\\d+ ms`),
    );

    const json = await run(['enqueue', 'up', '--db', dbPath, '--attempts', '1', '--wait', '--json']);
    const [job] = JSON.parse(json.stdout).jobs;
    expect(job).toMatchObject({
      state: 'failed',
      result: { ok: false, error: { code: 'MIGRATION_FAILED' } },
    });
    expect(fs.existsSync(job.result.backupPath)).toBe(true);
  });

  it('with --wait and no worker on the queue, says so, then follows the jobs once one starts', async () => {
    const dbPath = sampleDb(dir, 'unattended');
    const env = { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName, GAO_MIGRATE_LOG_LEVEL: 'silent' };
    const waiting = startCli(['enqueue', 'up', '--db', dbPath, '--wait'], { cwd: dir, env });
    try {
      const hint = `gao-migrate: no worker is running on queue ${queueName}; the jobs wait until one starts (gao-migrate worker --queue ${queueName} --roots DIR).`;
      expect(await waiting.stderrShows(hint)).toBe(true);
      startWorker();
      expect((await waiting.exited).code).toBe(0);
      expect(waiting.output().stdout).toMatch(/1 completed, 0 failed/);
    } finally {
      waiting.child.kill();
    }

    // With a worker running, not a word of it.
    const attended = await run(['enqueue', 'verify', '--db', dbPath, '--wait']);
    expect(attended.code).toBe(0);
    expect(attended.stderr).not.toContain('no worker');
  });

  it('without --wait and no worker on the queue, says so after listing the jobs queued', async () => {
    const dbPath = sampleDb(dir, 'unattended-nowait');
    const queued = await run(['enqueue', 'up', '--db', dbPath], { GAO_MIGRATE_LOG_LEVEL: 'silent' });
    expect(queued.code).toBe(0);
    expect(queued.stdout).toMatch(/^Queued 1 job\(s\) on /);
    expect(queued.stderr).toBe(
      `gao-migrate: no worker is running on queue ${queueName}; the jobs wait until one starts (gao-migrate worker --queue ${queueName} --roots DIR).\n`,
    );

    // The same work again while it waits is not queued twice, and the heading does not count it as queued.
    const again = await run(['enqueue', 'up', '--db', dbPath], { GAO_MIGRATE_LOG_LEVEL: 'silent' });
    expect(again.code).toBe(0);
    const jobId = /^(\S+)\t/m.exec(queued.stdout)?.[1];
    expect(again.stdout).toBe(
      `Queued 0 new job(s) on ${queueName}; 1 already queued, not queued again:\n${jobId}\t${dbPath}\t(already queued)\n`,
    );

    // With a worker running, not a word of it.
    startWorker();
    const attended = await run(['enqueue', 'verify', '--db', dbPath, '--wait']);
    expect(attended.code).toBe(0);
    expect(attended.stderr).not.toContain('no worker');
  });

  it('with --wait, exits 2 and says so when jobs leave Redis before they are seen to finish', async () => {
    const dbs = [sampleDb(dir, 'one'), sampleDb(dir, 'two')];
    // No worker: the jobs wait until they are removed, as a Redis restarted empty or bull-board's remove would.
    const following = run(['enqueue', 'up', '--db', dbs[0] as string, '--db', dbs[1] as string, '--wait']);
    const producer = await createProducer({ redisUrl: redis.url, queueName });
    try {
      await expect
        .poll(() => producer.queue.getJobCountByTypes('waiting'), { timeout: 30_000 })
        .toBe(dbs.length);
      await producer.queue.obliterate({ force: true });
    } finally {
      await producer.close();
    }
    const { code, stdout } = await following;
    expect(code).toBe(2);
    expect(stdout).toMatch(/0 completed, 0 failed, 0 unfinished\./);
    expect(stdout).toMatch(/2 jobs left Redis before they were seen to finish/);
    for (const dbPath of dbs) expect(stdout).toMatch(new RegExp(`${dbPath}\\s+gone`));

    const json = await run(['enqueue', 'verify', '--db', dbs[0] as string, '--json']);
    expect(json.code).toBe(0);
  });

  it('exits 1 when verify finds the migration not applied', async () => {
    const dbPath = sampleDb(dir, 'fresh');
    startWorker();
    const { code, stdout } = await run(['enqueue', 'verify', '--db', dbPath, '--wait', '--json']);
    expect(code).toBe(1);
    expect(JSON.parse(stdout).jobs[0].failedReason).toMatch(/^NOT_APPLIED:/);
  });

  it('without --wait, queues and returns at once; the same job is not queued twice', async () => {
    const dbPath = sampleDb(dir, 'queued');
    const first = await run(['enqueue', 'down', '--db', dbPath, '--json']);
    const second = await run(['enqueue', 'down', '--db', path.relative(dir, dbPath), '--json']);
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    const [a, b] = [JSON.parse(first.stdout), JSON.parse(second.stdout)];
    expect(a.jobs[0]).toMatchObject({ dbPath, state: 'waiting', result: null });
    expect(b.jobs[0].jobId).toBe(a.jobs[0].jobId);
  });

  it('queues one job for a database named three ways: through a symlinked directory, with .., relative', async () => {
    const dbPath = sampleDb(dir, 'named');
    fs.symlinkSync(path.dirname(dbPath), path.join(dir, 'alias'));
    const names = [
      path.join(dir, 'alias', path.basename(dbPath)),
      `${dir}/alias/../alias/${path.basename(dbPath)}`,
      path.relative(dir, dbPath),
    ];
    const { code, stdout } = await run([
      'enqueue',
      'up',
      ...names.flatMap((name) => ['--db', name]),
      '--json',
    ]);
    expect(code).toBe(0);
    const { jobs } = JSON.parse(stdout);
    expect(jobs).toHaveLength(1);
    expect(jobs[0].dbPath).toBe(names[0]);
  });

  it('says in one sentence that Redis is unreachable and exits 2', async () => {
    const port = await freePort();
    const { code, stdout, stderr } = await run(['enqueue', 'up', '--db', 'x.db'], {
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/Cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  it('refuses to run with no databases', async () => {
    const { code, stderr } = await run(['enqueue', 'up', '--glob', 'nothing/**/*.db']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/No databases given/);
  });

  it('refuses --dry-run for verify, which writes nothing already, and queues nothing', async () => {
    const { code, stderr } = await run(['enqueue', 'verify', '--db', 'x.db', '--dry-run']);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'gao-migrate: --dry-run applies to up and down: verify writes nothing already. (INVALID_INPUT)',
    );
    const producer = await createProducer({ redisUrl: redis.url, queueName });
    try {
      expect(await producer.queue.getJobCounts()).toMatchObject({ waiting: 0, active: 0, completed: 0 });
      await expect(producer.enqueue('verify', ['x.db'], { dryRun: true })).rejects.toThrow(
        'dryRun applies to up and down: a verify job writes nothing already; nothing was enqueued.',
      );
      expect(await producer.queue.count()).toBe(0);
    } finally {
      await producer.close();
    }
  });

  it('refuses an empty --db instead of queuing the current directory', async () => {
    const { code, stderr } = await run(['enqueue', 'up', '--db', '']);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'gao-migrate: --db was given an empty path: name a database file. (INVALID_INPUT)',
    );
    const producer = await createProducer({ redisUrl: redis.url, queueName });
    try {
      expect(await producer.queue.getJobCounts()).toMatchObject({ waiting: 0, active: 0, completed: 0 });
    } finally {
      await producer.close();
    }
  });
});
