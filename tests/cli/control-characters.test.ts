import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Queue, Worker } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { childJobId, rolloutsQueueName } from '../../src/fleet/rollout.js';
import { createProducer } from '../../src/producer/producer.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { createMigrationWorker, type MigrationWorker } from '../../src/worker/migration-worker.js';
import { filesIn } from '../fleet/helpers.js';
import { runCliAsync } from '../helpers/cli-async.js';
import { redisForFile } from '../helpers/redis.js';
import { runCliOnTerminal } from '../helpers/terminal.js';
import { captureLogger, sampleDb, tempDir, waitFor } from '../queue/helpers.js';

/** A directory name that would clear an operator's screen and forge a line of output if printed raw. */
const HOSTILE = 'proj\u001b[2J\nforged.db  applied';
const ESC = '\u001b';

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
  const rollouts = new Queue(rolloutsQueueName(queueName), {
    connection: connectionOptionsFromUrl(redis.url),
  });
  await rollouts.obliterate({ force: true });
  await rollouts.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]) {
  return runCliAsync(args, { cwd: dir, env: { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName } });
}

/** The lines of an output, without the empty one its final newline leaves. */
function linesOf(text: string): string[] {
  return text.replace(/\n$/, '').split('\n');
}

describe('control characters in what the CLI prints as text', () => {
  it('up and a failed verify show such a path escaped, one line each; --json keeps it exact', async () => {
    const db = sampleDb(dir, HOSTILE);
    const up = await run(['up', '--db', db]);
    expect(up.code).toBe(0);
    expect(up.stdout).not.toContain(ESC);
    const [headline, backup, ...rest] = linesOf(up.stdout);
    expect(headline).toBe(
      `Migration 006 up: applied (${JSON.stringify(db)}, ${/(\d+) ms\)$/.exec(headline ?? '')?.[1]} ms)`,
    );
    expect(backup).toMatch(/^Backup: ".*\\u001b\[2J\\nforged\.db {2}applied.*" \(sha256 [0-9a-f]{64}\)$/);
    expect(rest).toEqual([]);

    const json = await run(['verify', '--db', db, '--json']);
    expect(JSON.parse(json.stdout).db).toBe(db);

    const before = filesIn(dir);
    const missing = path.join(dir, HOSTILE, 'missing.db');
    const verify = await run(['verify', '--db', missing]);
    expect(verify.code).toBe(2);
    expect(verify.stdout + verify.stderr).not.toContain(ESC);
    const printed = linesOf(verify.stdout);
    expect(printed[0]).toContain(JSON.stringify(missing));
    expect(printed.at(-1)).toMatch(/^Error DB_NOT_FOUND: ".*\\u001b\[2J\\nforged.*"$/);
    expect(filesIn(dir)).toEqual(before);
  });

  it("a dry run's plan shows the SQL of a user's trigger with a control character in it escaped, one line", async () => {
    const db = sampleDb(dir, 'plan');
    const sqlite = new Database(db);
    sqlite.exec(
      `CREATE TRIGGER screen AFTER UPDATE ON learning_index BEGIN SELECT '${ESC}[2J${ESC}]0;title${ESC}\\'; END`,
    );
    sqlite.close();
    expect((await run(['up', '--db', db])).code).toBe(0);
    const before = filesIn(dir);
    const down = await run(['down', '--dry-run', '--db', db]);
    expect(down.code).toBe(0);
    expect(down.stdout).not.toContain(ESC);
    expect(linesOf(down.stdout)).toContain(
      `  ${JSON.stringify(`CREATE TRIGGER screen AFTER UPDATE ON learning_index BEGIN SELECT '${ESC}[2J${ESC}]0;title${ESC}\\'; END`)};`,
    );
    const json = await run(['down', '--dry-run', '--db', db, '--json']);
    expect(JSON.parse(json.stdout).plan).toContain(
      `CREATE TRIGGER screen AFTER UPDATE ON learning_index BEGIN SELECT '${ESC}[2J${ESC}]0;title${ESC}\\'; END`,
    );
    expect(filesIn(dir)).toEqual(before);
  });

  it('an error sentence naming such a path stays one line on stderr', async () => {
    const missing = path.join(dir, HOSTILE, 'backup.db');
    const db = sampleDb(dir, 'plain');
    const bytes = fs.readFileSync(db);
    const restore = await run(['restore', '--db', db, '--from', missing]);
    expect(restore.code).toBe(2);
    expect(restore.stdout + restore.stderr).not.toContain(ESC);
    const errors = linesOf(restore.stdout + restore.stderr).filter(
      (line) => line.includes('missing') || line.includes('backup.db'),
    );
    expect(errors.length).toBeGreaterThan(0);
    for (const line of errors) expect(line).toContain('\\u001b[2J\\nforged.db');
    expect(fs.readFileSync(db).equals(bytes)).toBe(true);
  });

  it('enqueue lists such a database on one line, and --wait keeps one table line per database', async () => {
    const hostile = sampleDb(dir, HOSTILE);
    const plain = sampleDb(dir, 'plain');
    const queued = await run(['enqueue', 'verify', '--db', hostile, '--db', plain]);
    expect(queued.code).toBe(0);
    expect(queued.stdout).not.toContain(ESC);
    const lines = linesOf(queued.stdout);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`\t${escapeRegExp(JSON.stringify(hostile))}$`));
    expect(lines[2]).toMatch(new RegExp(`\t${escapeRegExp(plain)}$`));

    worker = createMigrationWorker({
      redisUrl: redis.url,
      queueName,
      roots: [dir],
      logger: captureLogger().logger,
    });
    const waited = await run(['enqueue', 'up', '--db', hostile, '--db', plain, '--wait']);
    expect(waited.code).toBe(0);
    expect(waited.stdout).not.toContain(ESC);
    const table = linesOf(waited.stdout);
    expect(table[1]?.startsWith(`${JSON.stringify(hostile)}  applied  "`)).toBe(true);
    expect(table[2]?.startsWith(`${plain}  `)).toBe(true);
    expect(table[3]).toBe('2 completed, 0 failed, 0 unfinished.');
    expect(table).toHaveLength(4);
  });

  it('status shows a rollout another service added straight to Redis, ids and paths escaped', async () => {
    const rolloutId = `r\u001b[2J\nforged-${randomUUID()}`;
    const gone = path.join(dir, HOSTILE, '.gao-dev', 'documents.db');
    const connection = connectionOptionsFromUrl(redis.url);
    const rollouts = new Queue(rolloutsQueueName(queueName), { connection });
    const migrations = new Queue(queueName, { connection });
    try {
      await rollouts.add(
        'rollout',
        { rolloutId, op: 'up', targets: [gone], preflight: false, canary: 0, attempts: 1, createdAt: '' },
        { jobId: rolloutId },
      );
      // Its database job, added by hand too, fails on the missing file: its reason names the path.
      await migrations.add('migrate-up', { dbPath: gone }, { jobId: childJobId(rolloutId, 'apply', 0) });
      worker = createMigrationWorker({
        redisUrl: redis.url,
        queueName,
        roots: [dir],
        logger: captureLogger().logger,
      });
      await waitFor(
        async () => (await migrations.getJobState(childJobId(rolloutId, 'apply', 0))) === 'failed',
        'the database job to fail',
      );
    } finally {
      await rollouts.close();
      await migrations.close();
    }

    const listed = await run(['status']);
    expect(listed.stdout).not.toContain(ESC);
    const listedLines = linesOf(listed.stdout);
    expect(listedLines[0]).toMatch(/^ROLLOUT\s+OP\s+STATE\s+DONE\s+FAILED\s+CANCELLED\s+TOTAL$/);
    expect(listedLines[1]).toMatch(
      new RegExp(`^${escapeRegExp(JSON.stringify(rolloutId))}\\s+up\\s+waiting\\s+0\\s+1\\s+0\\s+1$`),
    );
    expect(listedLines).toHaveLength(2);

    const status = await run(['status', rolloutId]);
    expect(status.code).toBe(2);
    expect(status.stdout + status.stderr).not.toContain(ESC);
    const lines = linesOf(status.stdout);
    expect(lines[1]?.startsWith(`${JSON.stringify(gone)}  failed  -`)).toBe(true);
    expect(lines[2]).toBe(`Rollout ${JSON.stringify(rolloutId)} (up): waiting`);
    expect(lines[3]).toBe('0 done, 1 failed, 0 cancelled, 0 in progress, 0 not started, of 1.');
    expect(lines).toHaveLength(4);
  });
});

/** A job taken off `queue` by hand, as another worker would, to be finished by hand too. */
async function takeJobByHand(queue: string) {
  const other = new Worker(queue, null, { connection: connectionOptionsFromUrl(redis.url), autorun: false });
  const token = randomUUID();
  for (;;) {
    const job = await other.getNextJob(token, { block: false });
    if (job) return { job, token, close: () => other.close(true) };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('control characters in what the CLI shows on a terminal', () => {
  it("enqueue --wait's progress bar shows the step a worker wrote to Redis escaped", async () => {
    const db = sampleDb(dir, 'plain');
    const cli = runCliOnTerminal(['enqueue', 'verify', '--db', db, '--wait'], {
      dir,
      env: { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName },
    });
    const { job, token, close } = await takeJobByHand(queueName);
    try {
      await job.updateProgress({ step: 'copy\u001b[2J\nforged' });
      // Shown escaped or raw, the step names "forged": wait for it, then see how.
      await cli.shows('forged');
      expect(cli.shown()).toContain('] 0/1 done | 0 failed | ".gao-dev: copy\\u001b[2J\\nforged"');
      job.discard(); // failed for good, not retried
      await job.moveToFailed(new Error('taken by hand'), token, false);
    } finally {
      await close();
    }
    expect(await cli.exited).toBe(2);
    expect(cli.shown()).not.toContain(ESC);
    expect(
      cli
        .shown()
        .split(/[\r\n]/)
        .filter((line) => line.startsWith('forged')),
    ).toEqual([]);
  });

  it('the dashboard refuses a --host with an escape sequence in one escaped line', async () => {
    const refused = await run(['dashboard', '--host', 'evil\u001b[2J\nforged', '--port', '0']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe(
      'gao-migrate: "Refusing to serve the dashboard on evil\\u001b[2J\\nforged without credentials: set GAO_MIGRATE_DASHBOARD_USER and GAO_MIGRATE_DASHBOARD_PASSWORD, or bind 127.0.0.1." (DASHBOARD_UNSAFE_BIND)\n',
    );
  });

  it("keeps Commander's suggestion on its sentence's line, and escapes an unknown command", async () => {
    const option = await run(['fleet', 'up', '--glb', '*.db']);
    expect(option.code).toBe(2);
    expect(option.stderr).toBe(
      "gao-migrate: Unknown option '--glb' (Did you mean --glob?). (INVALID_INPUT)\n",
    );
    const command = await run(['enqeue', 'up']);
    expect(command.code).toBe(2);
    expect(command.stderr).toBe(
      "gao-migrate: Unknown command 'enqeue' (Did you mean enqueue?). (INVALID_INPUT)\n",
    );
    const hostile = await run(['enqeue\u001b[2J\nforged', 'up']);
    expect(hostile.code).toBe(2);
    expect(hostile.stdout).toBe('');
    expect(hostile.stderr).toBe(
      'gao-migrate: "Unknown command \'enqeue\\u001b[2J\\nforged\'." (INVALID_INPUT)\n',
    );
  });

  it("fleet's progress bar (retry --wait) shows a rollout stage read from Redis escaped", async () => {
    const rolloutId = `r-${randomUUID()}`;
    const connection = connectionOptionsFromUrl(redis.url);
    const rollouts = new Queue(rolloutsQueueName(queueName), { connection });
    await rollouts.add(
      'rollout',
      {
        rolloutId,
        op: 'up',
        targets: [path.join(dir, 'a.db')],
        preflight: false,
        canary: 0,
        attempts: 1,
        createdAt: '',
      },
      { jobId: rolloutId },
    );
    await rollouts.close();
    // Another service's controller wrote the stage it is at, then completed the rollout.
    const { job, token, close } = await takeJobByHand(rolloutsQueueName(queueName));
    try {
      await job.updateProgress({ stage: 'apply\u001b[2J\nforged' });
      await job.moveToCompleted({}, token, false);
    } finally {
      await close();
    }

    const cli = runCliOnTerminal(['retry', rolloutId, '--failed', '--wait'], {
      dir,
      env: { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName },
    });
    expect(await cli.exited).toBe(2);
    const shown = cli.shown();
    expect(shown).toContain('"apply\\u001b[2J\\nforged" [');
    expect(shown).toContain(`Rollout ${rolloutId} (up): completed`);
    expect(shown).not.toContain(ESC);
    expect(shown.split(/[\r\n]/).filter((line) => line.startsWith('forged'))).toEqual([]);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
