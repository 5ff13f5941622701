import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { createMigrationWorker, type MigrationWorker } from '../../src/worker/migration-worker.js';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { redisForFile } from '../helpers/redis.js';
import { leaveHotJournal } from '../helpers/sqlite.js';
import { captureLogger, sampleDb, waitFor } from '../queue/helpers.js';

/**
 * Hostile inputs, for CLI arguments and for job data. Each case must be answered with one sentence and a stable
 * code, exit 2 (CLI) or a failed job without retry (attemptsMade 1, attempts 5 allowed), and leave every file
 * byte-for-byte as it was. With GAO_MIGRATE_HOSTILE_REPORT set, the table is written there as JSON (npm run
 * chaos turns it into docs/RELIABILITY.md).
 */

interface Answer {
  via: 'cli' | 'job' | 'library';
  code: string;
  message: string;
  exit?: number | null;
  attemptsMade?: number;
  stderr?: string;
}

interface Case {
  name: string;
  /** The tool's part, for cases with nothing to set up. */
  run?: () => Promise<Answer>;
  /** Builds the case's files, then returns the tool's part (files are snapshotted in between). */
  setup?: () => Promise<() => Promise<Answer>>;
  /** Files the case itself changes while the tool runs (the swap), checked by the case. */
  swaps?: boolean;
  /** Codes allowed (one is expected; a list only where the platform decides). */
  code: string;
  /** Files whose bytes must not change, beyond the whole case directory. */
  watch?: string[];
  /** Files the case may add (a failed change keeps the backup it took). */
  mayAdd?: RegExp;
}

// Named now (cases below build paths from them while the file is collected), made in beforeAll: a directory made
// at collection would stay behind when every test is filtered out, since afterAll then does not run. Six random
// characters, as mkdtemp gives: messages that name a path twice must stay under the length the cases allow.
const root = path.join(fs.realpathSync(os.tmpdir()), `gao-migrate-hostile-${randomBytes(3).toString('hex')}`);
const outside = path.join(
  fs.realpathSync(os.tmpdir()),
  `gao-migrate-outside-${randomBytes(3).toString('hex')}`,
);
const immutable: string[] = [];
const redis = redisForFile();
let queue: Queue;
let worker: MigrationWorker;
let queueName: string;
const results: (Answer & { name: string; unchanged: boolean })[] = [];

beforeAll(async () => {
  fs.mkdirSync(root, { mode: 0o700 });
  fs.mkdirSync(outside, { mode: 0o700 });
  queueName = `test-hostile-${randomUUID()}`;
  queue = new Queue(queueName, { connection: connectionOptionsFromUrl(redis.url) });
  worker = createMigrationWorker({
    redisUrl: redis.url,
    queueName,
    roots: [root],
    logger: captureLogger().logger,
  });
});

afterAll(async () => {
  for (const target of immutable) spawnSync('chattr', ['-i', target]);
  await worker?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
  const report = process.env.GAO_MIGRATE_HOSTILE_REPORT;
  if (report) fs.writeFileSync(report, JSON.stringify(results, null, 2));
});

/** A 005 database of its own for one case, under the worker's root. */
function caseDb(name: string): string {
  return sampleDb(root, name, 200);
}

function cli(args: string[], cwd = root, env: NodeJS.ProcessEnv = {}): () => Promise<Answer> {
  return async () => {
    const run = runCli([...args, '--json'], { cwd, env: { GAO_MIGRATE_LOG_LEVEL: 'silent', ...env } });
    const parsed = JSON.parse(run.stdout || '{}') as { error?: { code: string; message: string } };
    return {
      via: 'cli',
      code: parsed.error?.code ?? 'NONE',
      message: parsed.error?.message ?? run.stdout,
      exit: run.status,
      stderr: run.stderr,
    };
  };
}

function job(name: string, data: unknown): () => Promise<Answer> {
  return async () => {
    const added = await queue.add(name, data, { attempts: 5, backoff: { type: 'fixed', delay: 100 } });
    const id = added.id as string;
    const finished = await waitFor(async () => {
      const state = await queue.getJobState(id);
      return state === 'completed' || state === 'failed' ? state : undefined;
    }, `job ${id} to finish`);
    const done = await queue.getJob(id);
    const reason = String(done?.failedReason ?? finished);
    const match = /^([A-Z_]+): ([\s\S]*)$/.exec(reason);
    return {
      via: 'job',
      code: match?.[1] ?? 'NONE',
      message: match?.[2] ?? reason,
      attemptsMade: done?.attemptsMade,
    };
  };
}

function library(run: () => ReturnType<Migrator['run']>): () => Promise<Answer> {
  return async () => {
    const result = run();
    return { via: 'library', code: result.error?.code ?? 'NONE', message: result.error?.message ?? '' };
  };
}

/** name -> sha256 (files), 'dir' or 'link' for everything under `dir`, recursively. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isSymbolicLink()) out[full] = `link:${fs.readlinkSync(full)}`;
      else if (entry.isDirectory()) {
        out[full] = 'dir';
        walk(full);
      } else out[full] = createHash('sha256').update(fs.readFileSync(full)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

function chattr(target: string): boolean {
  const done = spawnSync('chattr', ['+i', target]).status === 0;
  if (done) immutable.push(target);
  return done;
}

/**
 * Another process holding SQLite's RESERVED lock (BEGIN IMMEDIATE): readers pass, so the engine gets through its
 * preconditions and waits in its own BEGIN IMMEDIATE.
 */
async function holdWriteLock(dbPath: string): Promise<{ release: () => Promise<void> }> {
  const script =
    "const D=require('better-sqlite3');const d=new D(process.argv[1]);d.exec('BEGIN IMMEDIATE');" +
    "process.stdout.write('locked\\n');process.stdin.once('data',()=>{d.exec('COMMIT');d.close();process.exit(0)})";
  const child = spawn(process.execPath, ['-e', script, dbPath], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(() => output.includes('locked') || child.exitCode !== null, 'the lock holder');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    release: async () => {
      if (child.exitCode === null) child.stdin.write('release\n');
      await exited;
    },
  };
}

/**
 * Appends to the definition of learning_index that up recorded statements that, run as given, would create files
 * outside the roots: an attached database and a VACUUM INTO copy (both under `outside`, which must stay empty).
 */
function editRecordedDefinition(dbPath: string, tag: string): void {
  const db = new Database(dbPath);
  const attached = path.join(outside, `attached-${tag}.db`).replaceAll("'", "''");
  const vacuumed = path.join(outside, `vacuumed-${tag}.db`).replaceAll("'", "''");
  db.prepare(
    "UPDATE gao_migrate_history SET table_sql = table_sql || ? WHERE table_name = 'learning_index'",
  ).run(`; ATTACH '${attached}' AS x; CREATE TABLE IF NOT EXISTS x.t(a); VACUUM INTO '${vacuumed}'`);
  db.close();
}

const SQL = "006'; DROP TABLE learning_index;--";
const cases: Case[] = [
  // CLI arguments
  {
    name: 'relative path escaping to /etc/passwd',
    code: 'NOT_A_DATABASE',
    run: cli(['up', '--db', `${'../'.repeat(12)}etc/passwd`]),
    watch: ['/etc/passwd'],
  },
  {
    name: 'relative path to nothing',
    code: 'DB_NOT_FOUND',
    run: cli(['up', '--db', 'no/such/documents.db']),
  },
  { name: 'a directory instead of a file', code: 'DB_IS_DIRECTORY', run: cli(['up', '--db', '.']) },
  {
    name: 'a 300-character file name (ENAMETOOLONG)',
    code: 'INVALID_INPUT',
    run: cli(['up', '--db', `${'n'.repeat(300)}.db`]),
  },
  {
    name: 'a 5,000-character path',
    code: 'INVALID_INPUT',
    run: cli(['up', '--db', `${'d/'.repeat(2500)}x.db`]),
  },
  {
    name: 'a lone UTF-16 surrogate in the path (arrives as U+FFFD)',
    code: 'DB_NOT_FOUND',
    run: cli(['up', '--db', 'bad-\ud800.db']),
  },
  {
    name: `--migration "${SQL}"`,
    code: 'INVALID_INPUT',
    run: cli(['up', '--db', 'x.db', '--migration', SQL]),
  },
  {
    name: '--migration 007 (unknown id)',
    code: 'UNKNOWN_MIGRATION',
    setup: async () => cli(['up', '--db', caseDb('cli-007'), '--migration', '007']),
  },
  {
    name: `--db "${SQL}.db" (quotes and SQL as a path)`,
    code: 'DB_NOT_FOUND',
    run: cli(['up', '--db', `${SQL}.db`]),
  },
  {
    name: '--busy-timeout -1',
    code: 'INVALID_INPUT',
    run: cli(['up', '--db', 'x.db', '--busy-timeout', '-1']),
  },
  { name: 'unknown flag --dbpath', code: 'INVALID_INPUT', run: cli(['up', '--dbpath', 'x.db']) },
  {
    name: 'enqueue --db "" (an empty path would name the current directory)',
    code: 'INVALID_INPUT',
    run: cli(['enqueue', 'up', '--db', '']),
  },
  {
    name: 'enqueue --queue "prod:migrations" (a name BullMQ refuses)',
    code: 'INVALID_INPUT',
    run: cli(['enqueue', 'up', '--db', 'x.db', '--queue', 'prod:migrations']),
  },
  {
    name: 'REDIS_URL naming a database Redis does not have (ioredis would go on in database 0)',
    code: 'REDIS_REFUSED',
    setup: async () => {
      const url = new URL(redis.url);
      url.pathname = '/9999';
      return cli(['enqueue', 'up', '--db', 'x.db'], root, { REDIS_URL: url.href });
    },
  },
  {
    name: 'enqueue sideways (unknown operation)',
    code: 'INVALID_INPUT',
    run: cli(['enqueue', 'sideways', '--db', 'x.db']),
  },
  {
    name: 'enqueue --from-file a database instead of a list (binary)',
    code: 'INVALID_INPUT',
    setup: async () => cli(['enqueue', 'up', '--from-file', caseDb('list-binary')]),
  },
  {
    name: 'enqueue --from-file /dev/zero (a list that never ends)',
    code: 'INVALID_INPUT',
    run: cli(['enqueue', 'up', '--from-file', '/dev/zero']),
  },
  {
    name: 'restore --from the database itself, through a symbolic link',
    code: 'INVALID_INPUT',
    setup: async () => {
      const dbPath = caseDb('restore-itself');
      const link = path.join(path.dirname(dbPath), 'same.db');
      fs.symlinkSync(dbPath, link);
      return cli(['restore', '--db', dbPath, '--from', link]);
    },
  },
  {
    name: "a backup given for the database (what a glob such as '*/.gao-dev/*.db' catches beside it)",
    code: 'DB_IS_BACKUP',
    setup: async () => {
      const dbPath = caseDb('backup-given');
      const backup = path.join(path.dirname(dbPath), 'documents.backup_20261124T101500123Z.db');
      fs.renameSync(dbPath, backup);
      return cli(['up', '--db', backup]);
    },
  },
  {
    name: 'restore with --db and --from the other way round (the backup given for --db)',
    code: 'DB_IS_BACKUP',
    setup: async () => {
      const dbPath = caseDb('restore-swapped');
      const backup = path.join(path.dirname(dbPath), 'documents.backup_20261124T101500123Z.db');
      fs.copyFileSync(dbPath, backup);
      return cli(['restore', '--db', backup, '--from', dbPath]);
    },
  },
  {
    name: 'a text file named documents.db',
    code: 'NOT_A_DATABASE',
    setup: async () => {
      const file = path.join(root, 'text', 'documents.db');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, 'not a database\n');
      return cli(['up', '--db', file]);
    },
  },
  {
    name: 'an empty file',
    code: 'NOT_A_DATABASE',
    setup: async () => {
      const file = path.join(root, 'empty', 'documents.db');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '');
      return cli(['up', '--db', file]);
    },
  },
  {
    name: 'a dry run over the hot journal a killed writer left (documents.db-journal)',
    code: 'HOT_JOURNAL',
    setup: async () => {
      const file = caseDb('hot-journal');
      await leaveHotJournal(file);
      return cli(['up', '--dry-run', '--db', file]);
    },
  },
  {
    name: 'a directory where SQLite keeps the WAL (documents.db-wal)',
    code: 'JOURNAL_NOT_A_FILE',
    setup: async () => {
      const file = caseDb('wal-directory');
      fs.mkdirSync(`${file}-wal`);
      return cli(['up', '--db', file]);
    },
  },
  {
    name: 'SQLite header followed by garbage',
    code: 'NOT_A_DATABASE',
    setup: async () => {
      const file = path.join(root, 'garbage', 'documents.db');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const bytes = Buffer.alloc(8192, 0x5a);
      bytes.write('SQLite format 3\0', 0, 'latin1');
      bytes.writeUInt16BE(4096, 16);
      fs.writeFileSync(file, bytes);
      return cli(['up', '--db', file]);
    },
  },
  {
    name: 'a SQLite file that is not a gao-dev database',
    code: 'MISSING_TABLE',
    setup: async () => {
      const file = path.join(root, 'other', 'documents.db');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const db = new Database(file);
      db.exec('CREATE TABLE notes (body TEXT)');
      db.close();
      return cli(['up', '--db', file]);
    },
  },
  {
    name: "a schema newer than the tool knows (a '007' row)",
    code: 'LATER_MIGRATION_APPLIED',
    setup: async () => {
      const file = caseDb('newer');
      const db = new Database(file);
      db.prepare("INSERT INTO schema_version VALUES ('007', '2027-01-01 00:00:00', 'from the future')").run();
      db.close();
      return cli(['up', '--db', file]);
    },
  },
  {
    name: 'a user trigger that RAISE(ABORT)s on the INSERT into schema_version during up',
    code: 'MIGRATION_FAILED',
    mayAdd: /\.backup_\d{8}T\d{9}Z\.db(\.sha256)?$/,
    setup: async () => {
      const file = caseDb('trigger');
      const db = new Database(file);
      db.exec(
        "CREATE TRIGGER frozen BEFORE INSERT ON schema_version BEGIN SELECT RAISE(ABORT, 'schema_version is frozen'); END",
      );
      db.close();
      return cli(['up', '--db', file]);
    },
  },
  {
    name: 'an immutable database file (chattr +i)',
    code: 'DB_READONLY',
    setup: async () => {
      const file = caseDb('immutable-file');
      if (!chattr(file)) throw new Error('chattr +i is not available here');
      return cli(['up', '--db', file]);
    },
  },
  {
    name: 'an immutable directory (chattr +i), through the engine',
    code: 'DB_READONLY',
    setup: async () => {
      const file = caseDb('immutable-dir');
      if (!chattr(path.dirname(file))) throw new Error('chattr +i is not available here');
      return library(() => new Migrator().up({ dbPath: file }));
    },
  },
  {
    name: 'a dry run of a WAL database in an immutable directory (chattr +i), where SQLite cannot make its -shm',
    code: 'DB_READONLY',
    setup: async () => {
      const file = caseDb('wal-immutable-dir-dry-run');
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.close();
      if (!chattr(path.dirname(file))) throw new Error('chattr +i is not available here');
      return cli(['up', '--dry-run', '--db', file]);
    },
  },
  {
    name: 'verify of a WAL database in an immutable directory (chattr +i), through the engine',
    code: 'DB_READONLY',
    setup: async () => {
      const file = caseDb('wal-immutable-dir-verify');
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.close();
      if (!chattr(path.dirname(file))) throw new Error('chattr +i is not available here');
      return library(() => new Migrator().verify({ dbPath: file }));
    },
  },
  {
    name: 'down over learning_index rows that break their CHECK constraints (written with ignore_check_constraints)',
    code: 'MIGRATION_FAILED',
    mayAdd: /\.rollback_backup_\d{8}T\d{9}Z\.db(\.sha256)?$/,
    setup: async () => {
      const file = caseDb('check-broken');
      new Migrator().up({ dbPath: file });
      const db = new Database(file);
      db.pragma('ignore_check_constraints = ON');
      db.exec("UPDATE learning_index SET category = 'folklore' WHERE id = 1");
      db.close();
      return cli(['down', '--db', file]);
    },
  },
  {
    name: 'a dry run of down over learning_index rows that break their CHECK constraints',
    code: 'MIGRATION_FAILED',
    setup: async () => {
      const file = caseDb('check-broken-dry-run');
      new Migrator().up({ dbPath: file });
      const db = new Database(file);
      db.pragma('ignore_check_constraints = ON');
      db.exec("UPDATE learning_index SET source_type = 'hearsay' WHERE id IN (2, 5)");
      db.close();
      return cli(['down', '--dry-run', '--db', file]);
    },
  },
  {
    name: "a dry run of down over a history row edited to ATTACH and write files elsewhere (gao_migrate_history's table_sql)",
    code: 'SCHEMA_DRIFT',
    setup: async () => {
      const file = caseDb('history-attach-dry-run');
      new Migrator().up({ dbPath: file });
      editRecordedDefinition(file, 'dry-run');
      return cli(['down', '--dry-run', '--db', file]);
    },
  },
  {
    name: "job: down over a history row edited to ATTACH and write files elsewhere (gao_migrate_history's table_sql)",
    code: 'SCHEMA_DRIFT',
    setup: async () => {
      const file = caseDb('history-attach-job');
      new Migrator().up({ dbPath: file });
      editRecordedDefinition(file, 'job');
      return job('migrate-down', { dbPath: file });
    },
  },
  {
    name: "a database named so long (218 bytes) that its backup's name would pass the file system's 255",
    code: 'BACKUP_FAILED',
    setup: async () => {
      const file = caseDb('long-name');
      const long = path.join(path.dirname(file), `${'n'.repeat(215)}.db`);
      fs.renameSync(file, long);
      return cli(['up', '--db', long]);
    },
  },
  {
    name: 'job: a file in the way of <db>.lock',
    code: 'FILE_LOCK_BLOCKED',
    setup: async () => {
      const file = caseDb('job-lock-file');
      fs.writeFileSync(`${file}.lock`, 'not a lock directory');
      return job('migrate-up', { dbPath: file });
    },
  },
  {
    name: 'job: a database in an immutable directory (chattr +i), where <db>.lock cannot be made',
    code: 'DB_READONLY',
    setup: async () => {
      const file = caseDb('job-immutable-dir');
      if (!chattr(path.dirname(file))) throw new Error('chattr +i is not available here');
      return job('migrate-up', { dbPath: file });
    },
  },
  {
    name: 'restore into an immutable directory (chattr +i), where <db>.lock cannot be made',
    code: 'DB_READONLY',
    setup: async () => {
      const file = caseDb('restore-immutable-dir');
      const backup = path.join(outside, 'restore-immutable-dir.db');
      fs.copyFileSync(file, backup);
      if (!chattr(path.dirname(file))) throw new Error('chattr +i is not available here');
      return cli(['restore', '--db', file, '--from', backup]);
    },
  },
  {
    name: 'a backup with the same name already exists',
    code: 'BACKUP_EXISTS',
    setup: async () => {
      const file = caseDb('backup-exists');
      const at = new Date('2026-11-24T10:15:00.123Z');
      fs.writeFileSync(
        path.join(path.dirname(file), 'documents.backup_20261124T101500123Z.db'),
        "someone else's file",
      );
      return library(() => new Migrator({ now: () => at }).up({ dbPath: file }));
    },
  },
  {
    name: 'the file swapped for another while the engine waits for its lock',
    code: 'DB_CHANGED',
    swaps: true,
    setup: async () => {
      const file = caseDb('swapped');
      const replacement = sampleDb(root, 'swapped-replacement', 50);
      const holder = await holdWriteLock(file);
      return async () => {
        const proc = spawn(
          process.execPath,
          [
            path.join(process.cwd(), 'bin', 'gao-migrate.js'),
            'up',
            '--db',
            file,
            '--json',
            '--busy-timeout',
            '60000',
          ],
          {
            env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'debug' },
          },
        );
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        proc.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
        await waitFor(() => stderr.includes('"step":"lock"'), 'the engine to wait for its lock');
        const replacementBytes = createHash('sha256').update(fs.readFileSync(replacement)).digest('hex');
        fs.renameSync(replacement, file);
        await holder.release();
        const exit = await exited;
        if (createHash('sha256').update(fs.readFileSync(file)).digest('hex') !== replacementBytes) {
          throw new Error('the file swapped in was changed');
        }
        const parsed = JSON.parse(stdout) as { error: { code: string; message: string } };
        return { via: 'cli', code: parsed.error.code, message: parsed.error.message, exit, stderr };
      };
    },
  },
  // Job data
  {
    name: 'job: relative ../../etc/passwd',
    code: 'PATH_NOT_ALLOWED',
    run: job('migrate-up', { dbPath: `${'../'.repeat(12)}etc/passwd` }),
    watch: ['/etc/passwd'],
  },
  {
    name: 'job: absolute path outside the roots',
    code: 'PATH_NOT_ALLOWED',
    setup: async () => {
      const file = sampleDb(outside, 'abs', 50);
      return job('migrate-up', { dbPath: file });
    },
  },
  {
    name: 'job: <root>/../ traversal',
    code: 'PATH_NOT_ALLOWED',
    setup: async () => {
      const file = sampleDb(outside, 'dotdot', 50);
      return job('migrate-up', { dbPath: path.join(root, '..', path.relative(path.dirname(root), file)) });
    },
  },
  {
    name: 'job: symlink in the root to a database outside',
    code: 'PATH_NOT_ALLOWED',
    setup: async () => {
      const file = sampleDb(outside, 'linked', 50);
      const link = path.join(root, 'link-to-outside.db');
      fs.symlinkSync(file, link);
      return job('migrate-up', { dbPath: link });
    },
  },
  {
    name: 'job: symlinked directory in the root pointing outside',
    code: 'PATH_NOT_ALLOWED',
    setup: async () => {
      sampleDb(outside, 'linked-dir', 50);
      const link = path.join(root, 'dir-link');
      fs.symlinkSync(path.join(outside, 'linked-dir'), link);
      return job('migrate-up', { dbPath: path.join(link, '.gao-dev', 'documents.db') });
    },
  },
  {
    name: 'job: relative path (resolved against the worker, outside the roots)',
    code: 'PATH_NOT_ALLOWED',
    run: job('migrate-up', { dbPath: 'package.json' }),
  },
  {
    name: 'job: 1 MB dbPath',
    code: 'INVALID_JOB_DATA',
    run: job('migrate-up', { dbPath: `/${'a'.repeat(1024 * 1024)}` }),
  },
  {
    name: 'job: 1 MB extra field',
    code: 'INVALID_JOB_DATA',
    run: job('migrate-up', { dbPath: path.join(root, 'x.db'), extra: 'x'.repeat(1024 * 1024) }),
  },
  { name: 'job: dbPath is a number', code: 'INVALID_JOB_DATA', run: job('migrate-up', { dbPath: 42 }) },
  {
    name: 'job: data is an array',
    code: 'INVALID_JOB_DATA',
    run: job('migrate-up', [path.join(root, 'x.db')]),
  },
  {
    name: 'job: dryRun is the string "yes"',
    code: 'INVALID_JOB_DATA',
    run: job('migrate-up', { dbPath: path.join(root, 'x.db'), dryRun: 'yes' }),
  },
  {
    name: 'job: NUL byte in dbPath',
    code: 'INVALID_JOB_DATA',
    run: job('migrate-up', { dbPath: `${root}/a\0b.db` }),
  },
  {
    name: `job: migration "${SQL}"`,
    code: 'INVALID_JOB_DATA',
    setup: async () => job('migrate-up', { dbPath: caseDb('job-sql-migration'), migration: SQL }),
  },
  {
    name: `job: rolloutId "${SQL}"`,
    code: 'INVALID_JOB_DATA',
    setup: async () => job('migrate-up', { dbPath: caseDb('job-sql-rollout'), rolloutId: SQL }),
  },
  {
    name: `job: dbPath "<root>/${SQL}" (treated as a path)`,
    code: 'DB_NOT_FOUND',
    run: job('migrate-up', { dbPath: path.join(root, SQL) }),
  },
  {
    name: 'job: migration 007 (unknown id)',
    code: 'UNKNOWN_MIGRATION',
    setup: async () => job('migrate-up', { dbPath: caseDb('job-007'), migration: '007' }),
  },
  {
    name: 'job: unknown job name',
    code: 'UNKNOWN_JOB_NAME',
    run: job('migrate-sideways', { dbPath: path.join(root, 'x.db') }),
  },
  {
    name: 'job: a backup queued for the database (a glob such as .gao-dev/*.db)',
    code: 'DB_IS_BACKUP',
    setup: async () => {
      const dbPath = caseDb('job-backup-given');
      const backup = path.join(path.dirname(dbPath), 'documents.pre_restore_backup_20261124T101500123Z.db');
      fs.renameSync(dbPath, backup);
      return job('migrate-up', { dbPath: backup });
    },
  },
  {
    name: "job: a schema newer than the tool knows (a '007' row)",
    code: 'LATER_MIGRATION_APPLIED',
    setup: async () => {
      const file = caseDb('job-newer');
      const db = new Database(file);
      db.prepare("INSERT INTO schema_version VALUES ('007', '2027-01-01 00:00:00', 'from the future')").run();
      db.close();
      return job('migrate-up', { dbPath: file });
    },
  },
];

describe('hostile input', () => {
  it('has at least 25 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases.map((entry) => [entry.name, entry] as const))('answers: %s', async (_name, entry) => {
    const exec = entry.setup ? await entry.setup() : entry.run;
    if (!exec) throw new Error('a case needs run or setup');
    const watched = entry.watch ?? [];
    const hashOf = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const beforeWatched = watched.map(hashOf);
    const beforeRoot = snapshot(root);
    const beforeOutside = snapshot(outside);
    const answer = await exec();
    const afterRoot = snapshot(root);
    const afterOutside = snapshot(outside);

    expect(answer.code, answer.message).toBe(entry.code);
    expect(answer.message).not.toContain('\n');
    expect(hasStackTrace(answer.message + (answer.stderr ?? ''))).toBe(false);
    expect(answer.message.length).toBeLessThan(700);
    expect(answer.message).toMatch(/^[A-Z/"'-]|^[a-z]/);
    if (answer.via === 'cli') expect(answer.exit).toBe(2);
    if (answer.via === 'job') expect(answer.attemptsMade).toBe(1);

    // Every file that existed before is byte-for-byte the same; the only file a case may add is the backup a
    // failed change keeps (its message names it).
    const changed = Object.keys(beforeRoot).filter(
      (file) => afterRoot[file] !== beforeRoot[file] && !(entry.swaps && file.includes(`${path.sep}swapped`)),
    );
    const changedOutside = Object.keys(beforeOutside).filter(
      (file) => afterOutside[file] !== beforeOutside[file],
    );
    expect(changed).toEqual([]);
    expect(changedOutside).toEqual([]);
    // Nothing is created outside the roots either (no lock, journal or backup beside a refused database).
    expect(Object.keys(afterOutside).filter((file) => !(file in beforeOutside))).toEqual([]);
    expect(watched.map(hashOf)).toEqual(beforeWatched);
    const added = Object.keys(afterRoot).filter((file) => !(file in beforeRoot));
    for (const file of added) {
      expect(file.includes('.partial-') || file.endsWith('.lock'), file).toBe(false);
      expect(entry.mayAdd?.test(file) ?? false, file).toBe(true);
    }
    results.push({ name: entry.name, ...answer, stderr: undefined, unchanged: true });
  });
});
