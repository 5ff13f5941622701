import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { acquireFileLock } from '../../src/worker/file-lock.js';
import { CLI_BIN, hasStackTrace, jsonOf, runCli, runCliUnprivileged } from '../helpers/cli.js';
import { startCli } from '../helpers/cli-async.js';
import { contentHash, fileSha256, filesBeside, sampleDb, tempDir, withDb } from '../helpers/sqlite.js';

const RESULT_KEYS = [
  'ok',
  'op',
  'migration',
  'db',
  'status',
  'backupPath',
  'durationMs',
  'verification',
  'error',
];

describe('gao-migrate up|down|verify', () => {
  // Linux: prlimit (util-linux) caps the size a file may grow to, so the change's writes fail half-way as on a
  // full disk (EFBIG, reported by SQLite as an I/O error). The database is large enough for SQLite to write
  // changed pages into it before COMMIT, which leaves the undo in a hot -journal unless the run rolls it back.
  it('leaves the database byte for byte as it was, with no journal beside it, when a write fails half-way', () => {
    const dbPath = sampleDb({ learnings: 15_000 });
    expect(runCli(['up', '--db', dbPath]).status).toBe(0);
    for (const name of filesBeside(dbPath).filter((file) => file.includes('.backup_')))
      fs.rmSync(path.join(path.dirname(dbPath), name));
    const bytes = fileSha256(dbPath);
    const limit = fs.statSync(dbPath).size + 4096;

    const run = spawnSync(
      'prlimit',
      [`--fsize=${limit}`, process.execPath, CLI_BIN, 'down', '--db', dbPath, '--json'],
      {
        encoding: 'utf8',
        env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'silent' },
      },
    );

    const result = JSON.parse(run.stdout);
    expect(run.status).not.toBe(0);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'IO_ERROR' } });
    expect(result.error.message).toContain('The database is unchanged.');
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual([
      'documents.db',
      path.basename(result.backupPath),
      `${path.basename(result.backupPath)}.sha256`,
    ]);
    expect(fileSha256(result.backupPath)).toBe(bytes);
  });

  it('applies, verifies and rolls back with exit 0, printing one JSON object each time', () => {
    const dbPath = sampleDb();
    const original = contentHash(dbPath);

    const up = runCli(['up', '--db', dbPath, '--json']);
    expect(up.status).toBe(0);
    const upResult = jsonOf(up);
    expect(Object.keys(upResult)).toEqual(expect.arrayContaining(RESULT_KEYS));
    expect(upResult).toMatchObject({
      ok: true,
      op: 'up',
      migration: '006',
      db: dbPath,
      status: 'applied',
      error: null,
    });
    expect(upResult.backupPath).toMatch(/documents\.backup_\d{8}T\d{9}Z\.db$/);
    expect(typeof upResult.durationMs).toBe('number');
    expect(upResult.verification).toMatchObject({ ok: true, issues: [] });
    expect(fs.existsSync(upResult.backupPath as string)).toBe(true);
    // Logs go to stderr as pino JSON lines, never to stdout.
    for (const line of up.stderr.trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('level');

    const verify = runCli(['verify', '--db', dbPath, '--json', '--full']);
    expect(verify.status).toBe(0);
    expect(jsonOf(verify)).toMatchObject({ ok: true, op: 'verify', status: 'verified', backupPath: null });

    const again = runCli(['up', '--db', dbPath, '--json']);
    expect(again.status).toBe(0);
    expect(jsonOf(again)).toMatchObject({ ok: true, status: 'already-applied', backupPath: null });

    const down = runCli(['down', '--db', dbPath, '--json']);
    expect(down.status).toBe(0);
    expect(jsonOf(down)).toMatchObject({ ok: true, op: 'down', status: 'rolled-back' });
    expect(jsonOf(down).backupPath).toMatch(/documents\.rollback_backup_\d{8}T\d{9}Z\.db$/);
    expect(contentHash(dbPath)).toBe(original);

    const downAgain = runCli(['down', '--db', dbPath]);
    expect(downAgain.status).toBe(0);
    expect(downAgain.stdout).toContain('Migration 006 down: not applied');
  });

  it('exits 1 when verify finds the migration not applied', () => {
    const dbPath = sampleDb();
    const run = runCli(['verify', '--db', dbPath, '--json']);
    expect(run.status).toBe(1);
    expect(jsonOf(run)).toMatchObject({ ok: false, status: 'not-applied', error: { code: 'NOT_APPLIED' } });
  });

  it('exits 1 and names the drift when verify finds a dropped index', () => {
    const dbPath = sampleDb();
    expect(runCli(['up', '--db', dbPath]).status).toBe(0);
    withDb(dbPath, (db) => db.exec('DROP INDEX idx_learning_applications_applied_at'));
    const run = runCli(['verify', '--db', dbPath]);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('Index idx_learning_applications_applied_at is missing.');
    expect(run.stdout).toContain('Error VERIFY_DRIFT');
  });

  it('defaults --db to .gao-dev/documents.db under the current directory', () => {
    const project = tempDir();
    const dbPath = path.join(project, '.gao-dev', 'documents.db');
    fs.mkdirSync(path.dirname(dbPath));
    fs.copyFileSync(sampleDb(), dbPath);
    const run = runCli(['up', '--json'], { cwd: project });
    expect(run.status).toBe(0);
    expect(jsonOf(run)).toMatchObject({ status: 'applied', db: fs.realpathSync(dbPath) });
  });

  it.each(['up', 'down'])('prints the plan on %s --dry-run and writes nothing', (op) => {
    const dbPath = sampleDb();
    if (op === 'down') {
      expect(runCli(['up', '--db', dbPath]).status).toBe(0);
      for (const name of filesBeside(dbPath))
        if (name.includes('backup')) fs.rmSync(path.join(path.dirname(dbPath), name));
    }
    const bytes = fileSha256(dbPath);
    const run = runCli([op, '--db', dbPath, '--dry-run']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('planned (dry run: nothing written, no backup)');
    expect(run.stdout).toContain(
      op === 'up' ? 'CREATE TABLE learning_applications' : 'DROP TABLE learning_applications;',
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('prints no plan for a dry run that fails, and says nothing would run, why, and exits 2', () => {
    const dbPath = sampleDb();
    expect(runCli(['up', '--db', dbPath]).status).toBe(0);
    for (const name of filesBeside(dbPath).filter((file) => file.includes('.backup_')))
      fs.rmSync(path.join(path.dirname(dbPath), name));
    withDb(dbPath, (db) => {
      db.pragma('ignore_check_constraints = ON');
      db.exec("UPDATE learning_index SET category = 'folklore' WHERE id = 3");
    });
    const bytes = fileSha256(dbPath);

    const text = runCli(['down', '--db', dbPath, '--dry-run']);
    expect(text.status).toBe(2);
    expect(text.stdout).not.toContain('Plan:');
    expect(text.stdout).not.toContain('DROP TABLE');
    expect(text.stdout).toMatch(
      /^Migration 006 down: failed \(dry run: nothing would run; nothing written, no backup\) \(.+\)\nError MIGRATION_FAILED: Migration 006 down would fail when it copies the rows of learning_index: .+ \(rowid 3\); .+\.\n$/,
    );

    const json = runCli(['down', '--db', dbPath, '--dry-run', '--json']);
    expect(json.status).toBe(2);
    expect(jsonOf(json)).toMatchObject({
      ok: false,
      status: 'failed',
      dryRun: true,
      plan: [],
      discarded: [],
      backupPath: null,
      error: { code: 'MIGRATION_FAILED', retryable: false },
    });
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('says what down discards, and on a dry run what it would discard, before anyone loses it', () => {
    const dbPath = sampleDb();
    expect(runCli(['up', '--db', dbPath]).status).toBe(0);
    const fresh = runCli(['down', '--db', dbPath, '--dry-run']);
    expect(fresh.stdout).toContain('Would discard: no data.');
    withDb(dbPath, (db) => {
      db.exec(
        "INSERT INTO learning_applications (learning_id, outcome, applied_at) SELECT id, 'success', created_at FROM learning_index LIMIT 2",
      );
      db.exec(
        'UPDATE learning_index SET application_count = 1 WHERE id IN (SELECT learning_id FROM learning_applications)',
      );
    });
    const planned = runCli(['down', '--db', dbPath, '--dry-run']);
    expect(planned.stdout).toContain(
      'Would discard (a real run backs it up first): 2 rows of learning_applications; the metrics of 2 learnings (values other than the defaults).',
    );
    const down = runCli(['down', '--db', dbPath]);
    expect(down.status).toBe(0);
    expect(down.stdout).toContain('Discarded (the backup keeps it): 2 rows of learning_applications;');
    const up = runCli(['up', '--db', dbPath]);
    expect(up.stdout).not.toContain('iscard');
  });

  it('fails a locked database with DB_LOCKED and exit 2 after --busy-timeout', () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    const other = new Database(dbPath);
    other.exec('BEGIN EXCLUSIVE');
    try {
      const run = runCli(['up', '--db', dbPath, '--busy-timeout', '200', '--json']);
      expect(run.status).toBe(2);
      expect(jsonOf(run)).toMatchObject({
        ok: false,
        status: 'failed',
        error: { code: 'DB_LOCKED', retryable: true },
      });
      expect(hasStackTrace(run.stderr)).toBe(false);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });
});

describe('gao-migrate bad input', () => {
  function corrupt(): string {
    const dbPath = sampleDb({ learnings: 1500 });
    const bytes = fs.readFileSync(dbPath);
    for (let i = Math.floor(bytes.length / 2); i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    fs.writeFileSync(dbPath, bytes);
    return dbPath;
  }

  function noLearningIndex(): string {
    const dbPath = path.join(tempDir(), 'other.db');
    const db = new Database(dbPath);
    db.exec('CREATE TABLE epic_state (epic_num INTEGER)');
    db.close();
    return dbPath;
  }

  const cases: [string, () => string, string, RegExp][] = [
    ['a missing file', () => path.join(tempDir(), 'missing.db'), 'DB_NOT_FOUND', /the file does not exist/],
    ['a directory', () => tempDir(), 'DB_IS_DIRECTORY', /is a directory/],
    [
      'a text file',
      () => {
        const file = path.join(tempDir(), 'notes.db');
        fs.writeFileSync(file, 'notes\n');
        return file;
      },
      'NOT_A_DATABASE',
      /is not a SQLite database/,
    ],
    [
      'an empty file',
      () => {
        const file = path.join(tempDir(), 'empty.db');
        fs.writeFileSync(file, '');
        return file;
      },
      'NOT_A_DATABASE',
      /is not a SQLite database/,
    ],
    ['a corrupt database', corrupt, 'DB_CORRUPT', /quick_check/],
    ['a database without learning_index', noLearningIndex, 'MISSING_TABLE', /has no learning_index/],
  ];

  it.each(cases)(
    'refuses %s with exit 2, one clear sentence and the file unchanged',
    (_name, make, code, message) => {
      const dbPath = make();
      const isFile = fs.existsSync(dbPath) && fs.statSync(dbPath).isFile();
      const bytes = isFile ? fileSha256(dbPath) : null;
      // The directory case's parent is the shared temp dir, where other test files come and go.
      const listing = isFile || !fs.existsSync(dbPath) ? fs.readdirSync(path.dirname(dbPath)).sort() : [];
      const json = runCli(['up', '--db', dbPath, '--json']);
      expect(json.status).toBe(2);
      expect(jsonOf(json)).toMatchObject({ ok: false, status: 'failed', backupPath: null, error: { code } });
      expect((jsonOf(json).error as { message: string }).message).toMatch(message);
      expect(hasStackTrace(json.stdout + json.stderr)).toBe(false);
      if (bytes) expect(fileSha256(dbPath)).toBe(bytes);
      if (listing.length > 0) expect(fs.readdirSync(path.dirname(dbPath)).sort()).toEqual(listing);
    },
  );

  // A user's WAL database in a directory they cannot write: SQLite must create the WAL index (-shm) beside it even
  // to read it.
  it('says a WAL database in a read-only directory cannot be read there (DB_READONLY), not that it is no database', () => {
    const dbPath = sampleDb({ wal: true });
    const dir = path.dirname(dbPath);
    const bytes = fileSha256(dbPath);
    fs.chmodSync(dir, 0o555);
    try {
      for (const args of [['up', '--dry-run'], ['verify']]) {
        const run = runCliUnprivileged([...args, '--db', dbPath, '--json']);
        expect(run.status).toBe(2);
        const error = jsonOf(run).error as { code: string; message: string };
        expect(error.code).toBe('DB_READONLY');
        expect(error.message).toMatch(/-shm/);
      }
    } finally {
      fs.chmodSync(dir, 0o755);
    }
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('says what went wrong in one line of text without --json', () => {
    const run = runCli(['down', '--db', tempDir()]);
    expect(run.status).toBe(2);
    expect(run.stdout).toMatch(
      /^Error DB_IS_DIRECTORY: .* is a directory, not a SQLite database file\. The database is unchanged\.$/m,
    );
    expect(hasStackTrace(run.stdout + run.stderr)).toBe(false);
  });

  it('refuses a database file with another hard link (DB_MULTIPLE_LINKS), in text and --json, changing nothing', () => {
    const dbPath = sampleDb();
    fs.linkSync(dbPath, path.join(path.dirname(dbPath), 'copy.db'));
    const bytes = fileSha256(dbPath);
    for (const args of [['up'], ['up', '--dry-run']]) {
      const text = runCli([...args, '--db', dbPath]);
      expect(text.status).toBe(2);
      expect(text.stdout).toMatch(
        /^Error DB_MULTIPLE_LINKS: .*documents\.db has 2 hard links \(.+\): give it one name, .+; nothing was changed\.$/m,
      );
      const json = runCli([...args, '--db', dbPath, '--json']);
      expect(json.status).toBe(2);
      expect(jsonOf(json)).toMatchObject({
        ok: false,
        status: 'failed',
        error: { code: 'DB_MULTIPLE_LINKS', retryable: false },
      });
      expect(hasStackTrace(text.stdout + text.stderr + json.stderr)).toBe(false);
    }
    expect(runCli(['verify', '--db', dbPath]).status).toBe(1); // verify is unchanged: 006 is not applied
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['copy.db', 'documents.db']);
  });

  it('answers a no-op on a database file with another hard link as anywhere (exit 0), changing nothing', () => {
    const dbPath = sampleDb();
    fs.linkSync(dbPath, path.join(path.dirname(dbPath), 'copy.db'));
    const bytes = fileSha256(dbPath);
    for (const [args, status] of [
      [['down'], 'not-applied'],
      [['down', '--dry-run'], 'not-applied'],
    ] as const) {
      const run = runCli([...args, '--db', dbPath, '--json']);
      expect(run.status).toBe(0);
      expect(jsonOf(run)).toMatchObject({ ok: true, status, error: null });
    }
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['copy.db', 'documents.db']);
  });

  it('given a project folder for --db, names the database inside it, and changes nothing', () => {
    const project = tempDir();
    const dbPath = path.join(project, '.gao-dev', 'documents.db');
    fs.mkdirSync(path.dirname(dbPath));
    fs.copyFileSync(sampleDb(), dbPath);
    const bytes = fileSha256(dbPath);
    for (const given of [project, path.dirname(dbPath)]) {
      const run = runCli(['up', '--db', given]);
      expect(run.status).toBe(2);
      expect(run.stdout.trim().split('\n').at(-1)).toBe(
        `Error DB_IS_DIRECTORY: ${given} is a directory, not a SQLite database file (it looks like a project: its database is ${dbPath}). The database is unchanged.`,
      );
    }
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(fs.readdirSync(path.dirname(dbPath))).toEqual(['documents.db']);
  });

  it('refuses an unknown migration with UNKNOWN_MIGRATION and exit 2', () => {
    const run = runCli(['up', '--db', sampleDb(), '--migration', '999', '--json']);
    expect(run.status).toBe(2);
    expect(jsonOf(run)).toMatchObject({ error: { code: 'UNKNOWN_MIGRATION' } });
  });

  it.each([
    [['up', '--bogus'], "Unknown option '--bogus'."],
    [['up', '--busy-timeout', 'soon'], 'Expected a whole number of milliseconds from 0 to 2147483647.'],
    [['up', '--migration', 'six'], '--migration takes a three-digit migration id such as 006, not "six".'],
    [['up', '--db', ''], '--db is empty: give the database file, such as .gao-dev/documents.db.'],
    [['verify', '--db', ''], '--db is empty: give the database file, such as .gao-dev/documents.db.'],
    [['frobnicate'], "Unknown command 'frobnicate'."],
    [['restore', '--db', 'x.db'], "Required option '--from <backup>' not specified."],
    [[], 'A command is required; see gao-migrate --help.'],
  ])('rejects %j with exit 2 and one line on stderr', (args, message) => {
    const run = runCli(args);
    expect(run.status).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^gao-migrate: .* \(INVALID_INPUT\)$/);
    expect(lines.at(-1)).toContain(message);
    if (args.length > 0) expect(lines).toHaveLength(1);
    expect(hasStackTrace(run.stderr)).toBe(false);
  });

  it.each(['up', 'down', 'verify'])(
    '%s refuses a --busy-timeout SQLite cannot take, naming the limit, and leaves the database as it was',
    (op) => {
      const dbPath = sampleDb();
      const before = fileSha256(dbPath);
      const run = runCli([op, '--db', dbPath, '--busy-timeout', '3000000000']);
      expect(run.status).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim()).toBe(
        "gao-migrate: Option '--busy-timeout <ms>' argument '3000000000' is invalid. Expected a whole number of milliseconds from 0 to 2147483647. (INVALID_INPUT)",
      );
      expect(fileSha256(dbPath)).toBe(before);
      expect(fs.readdirSync(path.dirname(dbPath))).toEqual([path.basename(dbPath)]);
    },
  );

  it('prints the failure as one JSON object with --json', () => {
    const run = runCli(['up', '--bogus', '--json']);
    expect(run.status).toBe(2);
    expect(jsonOf(run)).toEqual({
      ok: false,
      error: { code: 'INVALID_INPUT', message: "Unknown option '--bogus'.", retryable: false },
    });
  });

  it('exits 0 for --help and --version', () => {
    expect(runCli(['--version']).stdout.trim()).toBe('0.1.0');
    expect(runCli(['up', '--help']).status).toBe(0);
  });

  it('finishes and exits 0 without a stack trace when its reader closes the output pipe (| head)', async () => {
    const dbPath = sampleDb();
    const child = spawn(process.execPath, [CLI_BIN, 'up', '--db', dbPath, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // the reader is gone before anything is printed: the write gets EPIPE
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(hasStackTrace(stderr)).toBe(false);
    expect(code).toBe(0);
    expect(filesBeside(dbPath).filter((name) => /\.backup_\d{8}T\d{9}Z\.db$/.test(name))).toHaveLength(1);
  });
});

describe('gao-migrate up|down with output that cannot be written (a full disk under > out or 2> log)', () => {
  /** Runs the CLI with stdout or stderr on a descriptor open for reading only: every write fails (EBADF). */
  function runWithUnwritable(args: string[], which: 'stdout' | 'stderr') {
    const unwritable = fs.openSync(sampleDb(), 'r');
    try {
      const result = spawnSync(process.execPath, [CLI_BIN, ...args], {
        stdio: ['ignore', which === 'stdout' ? unwritable : 'pipe', which === 'stderr' ? unwritable : 'pipe'],
        env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'info' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
    } finally {
      fs.closeSync(unwritable);
    }
  }

  it('runs to the end and keeps its exit code when stdout cannot be written, saying so once on stderr', () => {
    const dbPath = sampleDb();
    const up = runWithUnwritable(['up', '--db', dbPath, '--json'], 'stdout');
    expect(hasStackTrace(up.stderr)).toBe(false);
    expect(up.status).toBe(0);
    const said = up.stderr.split('\n').filter((line) => line.startsWith('gao-migrate: '));
    expect(said).toEqual([
      'gao-migrate: Cannot write the output (EBADF: bad file descriptor, write); the command went on, and its exit code tells how it ended. (IO_ERROR)',
    ]);
    withDb(dbPath, (db) => {
      expect(db.prepare("SELECT count(*) FROM schema_version WHERE version = '006'").pluck().get()).toBe(1);
    });
  });

  it('runs to the end and prints its result when the log on stderr cannot be written', () => {
    const dbPath = sampleDb();
    const up = runWithUnwritable(['up', '--db', dbPath], 'stderr');
    expect(up.status).toBe(0);
    expect(up.stdout).toMatch(/^Migration 006 up: applied /);
    const down = runWithUnwritable(['down', '--db', dbPath], 'stderr');
    expect(down.status).toBe(0);
    expect(down.stdout).toMatch(/^Migration 006 down: rolled back /);
  });
});

describe('gao-migrate up interrupted (Ctrl-C, SIGTERM)', () => {
  /**
   * Starts `up` on a database this test holds SQLite's write lock on, so the run is certainly under way (waiting in
   * its lock step) when the signal comes, however fast the machine; `release()` lets it go on.
   */
  async function upWaitingForTheLock(dbPath: string) {
    const holder = new Database(dbPath);
    holder.exec('BEGIN IMMEDIATE');
    const cli = startCli(['up', '--db', dbPath, '--busy-timeout', '60000']);
    expect(await cli.stderrShows('"msg":"step lock"')).toBe(true);
    return {
      ...cli,
      release: () => {
        holder.exec('ROLLBACK');
        holder.close();
      },
    };
  }

  it('on SIGINT says at once that the run finishes, then finishes it: migrated, verified, its backup complete', async () => {
    const dbPath = sampleDb();
    const before = fileSha256(dbPath);
    const run = await upWaitingForTheLock(dbPath);
    run.child.kill('SIGINT');
    const said = await run.stderrShows('Interrupted (SIGINT) while up runs: it finishes first');
    run.release();
    expect(said).toBe(true);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    const { stdout, stderr } = run.output();
    expect(stdout).toContain('Migration 006 up: applied');
    expect(hasStackTrace(stderr)).toBe(false);
    const backups = filesBeside(dbPath).filter((name) => /\.backup_\d{8}T\d{9}Z\.db$/.test(name));
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(/^documents\.backup_\d{8}T\d{9}Z\.db$/);
    expect(fileSha256(path.join(path.dirname(dbPath), backups[0] ?? ''))).toBe(before);
    expect(runCli(['verify', '--db', dbPath]).status).toBe(0);
  });

  it('on a second signal stops at once with INTERRUPTED and exit 143, the database unchanged and nothing left beside it', async () => {
    const dbPath = sampleDb();
    const before = fileSha256(dbPath);
    const run = await upWaitingForTheLock(dbPath);
    run.child.kill('SIGINT');
    expect(await run.stderrShows('Interrupted (SIGINT)')).toBe(true);
    run.child.kill('SIGTERM');
    const stopping = await run.stderrShows('Stopping (SIGTERM) as soon as the statement in hand returns.');
    run.release();
    expect(stopping).toBe(true);
    expect(await run.exited).toEqual({ code: 143, signal: null });
    const { stdout, stderr } = run.output();
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n').at(-1)).toBe(
      'gao-migrate: Stopped at once (SIGTERM) before up finished: SQLite rolled its transaction back, so the database is unchanged. (INTERRUPTED)',
    );
    expect(fileSha256(dbPath)).toBe(before);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });
});

describe('gao-migrate up|down and <db>.lock', () => {
  it.each(['up', 'down'])(
    '%s waits for the <db>.lock a worker or a restore holds, then refuses with FILE_LOCK_HELD, changing nothing',
    async (op) => {
      const dbPath = sampleDb();
      if (op === 'down') expect(runCli(['up', '--db', dbPath]).status).toBe(0);
      const before = fileSha256(dbPath);
      const beside = filesBeside(dbPath);
      const lock = await acquireFileLock(fs.realpathSync(dbPath));
      try {
        const run = runCli([op, '--db', dbPath, '--lock-timeout', '200', '--json']);
        expect(run.status).toBe(2);
        expect(jsonOf(run)).toMatchObject({ ok: false, error: { code: 'FILE_LOCK_HELD', retryable: true } });
        expect((jsonOf(run) as { error: { message: string } }).error.message).toMatch(
          /holds .*documents\.db\.lock .*nothing was changed/,
        );
        expect(hasStackTrace(run.stderr)).toBe(false);
        // A dry run only reads: it takes no lock and runs.
        expect(runCli([op, '--db', dbPath, '--dry-run']).status).toBe(0);
      } finally {
        await lock.release();
      }
      expect(fileSha256(dbPath)).toBe(before);
      expect(filesBeside(dbPath)).toEqual(beside);
    },
  );

  it('takes <db>.lock for the change and leaves none behind', () => {
    const dbPath = sampleDb();
    const run = runCli(['up', '--db', dbPath, '--json']);
    expect(run.status).toBe(0);
    expect(fs.existsSync(`${fs.realpathSync(dbPath)}.lock`)).toBe(false);
    expect(jsonOf(run)).toMatchObject({ ok: true, status: 'applied' });
  });
});
