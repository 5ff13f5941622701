import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_FLUSHES_IN_FLIGHT } from '../../src/engine/backup-check.js';
import { ErrorCode } from '../../src/engine/errors.js';
import { DEFAULT_BUSY_TIMEOUT_MS, Migrator } from '../../src/engine/migrator.js';
import { tableExists } from '../../src/engine/schema.js';
import type { Migration, ProgressEvent, RunResult } from '../../src/engine/types.js';
import { createSampleDatabase } from '../../src/sample/create-sample-database.js';
import {
  contentHash,
  fileSha256,
  filesBeside,
  leaveHotJournal,
  removeBackup,
  sampleDb,
  tempDir,
  withDb,
} from '../helpers/sqlite.js';

const fast = { busyTimeoutMs: 100 };

/** A copy of `template` in a fresh temp dir, as `documents.db`. */
function copyOf(template: string): string {
  const dbPath = path.join(tempDir(), 'documents.db');
  fs.copyFileSync(template, dbPath);
  return dbPath;
}

function appliedDb(): string {
  const dbPath = sampleDb();
  const result = new Migrator(fast).up({ dbPath });
  expect(result.status).toBe('applied');
  if (result.backupPath) removeBackup(result.backupPath);
  return dbPath;
}

function eventsOf(run: (migrator: Migrator) => RunResult): ProgressEvent[] {
  const events: ProgressEvent[] = [];
  const result = run(new Migrator({ ...fast, onProgress: (event) => events.push(event) }));
  expect(result.ok).toBe(true);
  return events;
}

function describeEvent(event: ProgressEvent): string {
  if (event.type === 'step') return `step ${event.step}`;
  if (event.type === 'statement') return `statement ${event.index}`;
  return 'backup';
}

/** A small migration for driving the engine's own branches (migrations are pluggable, as in Kysely). */
function fakeMigration(overrides: Partial<Migration> = {}): Migration {
  return {
    id: '900',
    name: '900-fake',
    description: 'fake',
    requires: '005',
    requiredTables: ['learning_index'],
    assertCanRun() {},
    planUp: () => ({
      statements: [
        'CREATE TABLE fake_things (id INTEGER PRIMARY KEY, learning_id INTEGER REFERENCES learning_index(id))',
      ],
      foreignKeysOff: false,
      foreignKeyCheckTables: ['fake_things'],
    }),
    planDown: () => ({
      statements: ['DROP TABLE fake_things'],
      foreignKeysOff: true,
      foreignKeyCheckTables: [],
    }),
    inspect: (db) => ({ state: tableExists(db, 'fake_things') ? 'applied' : 'not-applied', issues: [] }),
    inspectReverted: () => [],
    ...overrides,
  };
}

describe('Migrator: idempotence and dry runs', () => {
  it("answers 'already-applied' to a second up, with no backup and the file byte-for-byte unchanged", () => {
    const dbPath = appliedDb();
    const bytes = fileSha256(dbPath);
    const result = new Migrator(fast).up({ dbPath });
    expect(result).toMatchObject({
      ok: true,
      status: 'already-applied',
      backupPath: null,
      plan: [],
      error: null,
    });
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it("answers 'not-applied' to down on a database without 006, changing nothing", () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    const result = new Migrator(fast).down({ dbPath });
    expect(result).toMatchObject({ ok: true, status: 'not-applied', backupPath: null });
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it.each(['up', 'down'] as const)('plans %s on a dry run: the SQL, no backup, nothing written', (op) => {
    const dbPath = op === 'up' ? sampleDb() : appliedDb();
    const bytes = fileSha256(dbPath);
    const result = new Migrator(fast).run(op, { dbPath, dryRun: true });
    expect(result).toMatchObject({
      ok: true,
      status: 'planned',
      dryRun: true,
      backupPath: null,
      backupSha256: null,
    });
    expect(result.plan.length).toBeGreaterThan(5);
    expect(result.plan.join('\n')).toContain(
      op === 'up'
        ? 'ALTER TABLE learning_index ADD COLUMN success_rate REAL DEFAULT 1.0'
        : 'DROP TABLE learning_applications',
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it.each(['up', 'down'] as const)(
    'leaves no -wal or -shm behind a dry run of %s on a WAL database',
    (op) => {
      const dbPath = sampleDb({ wal: true });
      if (op === 'down') {
        const up = new Migrator(fast).up({ dbPath });
        removeBackup(up.backupPath as string);
      }
      expect(filesBeside(dbPath)).toEqual(['documents.db']);
      const bytes = fileSha256(dbPath);
      expect(new Migrator(fast).run(op, { dbPath, dryRun: true }).status).toBe('planned');
      expect(fileSha256(dbPath)).toBe(bytes);
      expect(filesBeside(dbPath)).toEqual(['documents.db']);
    },
  );

  it('reads, read-only, a WAL database another connection has open, leaving its -wal and -shm as they were', () => {
    const dbPath = sampleDb({ wal: true });
    const other = new Database(dbPath);
    try {
      other.exec("UPDATE learning_index SET topic = 'kept in the WAL' WHERE id = 1");
      const wal = fileSha256(`${dbPath}-wal`);
      const bytes = fileSha256(dbPath);
      expect(new Migrator(fast).up({ dbPath, dryRun: true }).status).toBe('planned');
      expect(fileSha256(`${dbPath}-wal`)).toBe(wal);
      expect(fileSha256(dbPath)).toBe(bytes);
    } finally {
      other.close();
    }
  });

  it('refuses a dry run over a hot journal with HOT_JOURNAL, changing nothing; verify rolls it back, then it plans', async () => {
    const dbPath = sampleDb();
    const before = contentHash(dbPath);
    await leaveHotJournal(dbPath);
    const bytes = [fileSha256(dbPath), fileSha256(`${dbPath}-journal`)];

    const dryRun = new Migrator().up({ dbPath, dryRun: true });
    expect(dryRun.error?.code).toBe(ErrorCode.HOT_JOURNAL);
    expect(dryRun.error?.message).toContain(`${dbPath}-journal`);
    expect([fileSha256(dbPath), fileSha256(`${dbPath}-journal`)]).toEqual(bytes);

    expect(new Migrator().verify({ dbPath }).error?.code).toBe(ErrorCode.NOT_APPLIED);
    expect(fs.existsSync(`${dbPath}-journal`)).toBe(false);
    expect(contentHash(dbPath)).toBe(before);
    expect(new Migrator().up({ dbPath, dryRun: true }).status).toBe('planned');
  });

  it("checks what the real run checks: CHECK constraints are left out of a dry run's quick_check either way", () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => {
      db.pragma('ignore_check_constraints = ON');
      db.exec("UPDATE documents SET state = 'lost' WHERE id = (SELECT min(id) FROM documents)");
    });
    expect(new Migrator(fast).up({ dbPath, dryRun: true }).status).toBe('planned');
    expect(new Migrator(fast).up({ dbPath }).status).toBe('applied');
  });
});

describe('Migrator: many runs in one synchronous loop', () => {
  /** Open descriptors of this process (/dev/fd lists them on Linux and macOS; Windows has no such list). */
  const openDescriptors = () => fs.readdirSync('/dev/fd').length;

  it.skipIf(process.platform === 'win32')(
    'keeps a bounded number of descriptors open while the event loop never turns',
    () => {
      const template = sampleDb({ learnings: 20 });
      const runs = MAX_FLUSHES_IN_FLIGHT * 3;
      const dbPaths = Array.from({ length: runs }, () => copyOf(template));
      const migrator = new Migrator(fast);
      const before = openDescriptors();
      const statuses = dbPaths.map((dbPath) => migrator.up({ dbPath }).status);
      const after = openDescriptors();
      expect(statuses).toEqual(dbPaths.map(() => 'applied'));
      // Each run's background flush keeps a descriptor until its callback runs: at most MAX_FLUSHES_IN_FLIGHT.
      expect(after - before).toBeLessThanOrEqual(MAX_FLUSHES_IN_FLIGHT);
    },
  );
});

/** A 005 database (`up`) and a copy with 006 applied (`down`) in `dir`, for one op each to start from. */
function templatesIn(dir: string): Record<'up' | 'down', string> {
  const up = path.join(dir, 'documents.db');
  createSampleDatabase(up, { learnings: 400, epics: 6, documents: 20 });
  const down = path.join(dir, 'applied.db');
  fs.copyFileSync(up, down);
  const result = new Migrator(fast).up({ dbPath: down });
  if (result.backupPath) removeBackup(result.backupPath);
  return { up, down };
}

/**
 * The events of a run of `op`, counted while the file is collected (they name the tests) in a directory removed at
 * once: one left for afterAll would stay behind when every test is filtered out.
 */
function eventsAtCollection(op: 'up' | 'down'): ProgressEvent[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-test-'));
  try {
    return eventsOf((migrator) => migrator.run(op, { dbPath: templatesIn(dir)[op] }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('Migrator: a failure at any step leaves the database as it was', () => {
  let templates: Record<'up' | 'down', string>;
  beforeAll(() => {
    templates = templatesIn(tempDir({ forFile: true }));
  });

  for (const op of ['up', 'down'] as const) {
    const events = eventsAtCollection(op);

    it(`emits every step of ${op} in order`, () => {
      const steps = events.filter((event) => event.type === 'step').map(describeEvent);
      expect(steps).toEqual(
        ['preconditions', 'lock', 'backup', 'migrate', 'verify', 'commit'].map((s) => `step ${s}`),
      );
      expect(events.filter((event) => event.type === 'statement').length).toBeGreaterThan(10);
    });

    it.each(events.map((event, index) => [describeEvent(event), index] as const))(
      `keeps the database unchanged when ${op} fails at %s (event %i)`,
      (_name, failAt) => {
        const dbPath = copyOf(templates[op]);
        const hash = contentHash(dbPath);
        const bytes = fileSha256(dbPath);
        let seen = 0;
        const migrator = new Migrator({
          ...fast,
          onProgress: () => {
            if (seen++ === failAt) throw new Error('injected failure');
          },
        });
        const result = migrator.run(op, { dbPath });
        expect(result.ok).toBe(false);
        expect(result.status).toBe('failed');
        expect(result.error?.code).toBe(ErrorCode.MIGRATION_FAILED);
        expect(result.error?.message).toContain('injected failure');
        expect(result.error?.message).toContain('The database is unchanged.');
        expect(contentHash(dbPath)).toBe(hash);
        expect(fileSha256(dbPath)).toBe(bytes);
        withDb(dbPath, (db) => {
          expect(
            db
              .prepare("SELECT count(*) FROM sqlite_schema WHERE name LIKE '_gao_migrate_old_%'")
              .pluck()
              .get(),
          ).toBe(0);
        });
        if (result.backupPath) {
          expect(result.error?.message).toContain(`Backup: ${result.backupPath}`);
          expect(result.error?.message).toContain(
            `gao-migrate restore --db ${dbPath} --from ${result.backupPath}`,
          );
          expect(contentHash(result.backupPath)).toBe(hash);
        } else {
          expect(result.error?.message).not.toContain('Backup:');
          expect(filesBeside(dbPath)).toEqual(['documents.db']);
        }
      },
    );
  }

  it('gives a restore command that a POSIX shell reads back as the exact paths, whatever they hold', () => {
    const dir = path.join(tempDir(), 'it\'s $HOME `id` \\ "q"');
    fs.mkdirSync(dir);
    const dbPath = path.join(dir, 'documents.db');
    fs.copyFileSync(sampleDb(), dbPath);
    // A user's view has the name of the table 006 creates: up fails after its backup.
    withDb(dbPath, (db) => db.exec('CREATE VIEW learning_applications AS SELECT id FROM learning_index'));
    const result = new Migrator().up({ dbPath });
    const words = /restore --db (.+) --from (.+)\)\.$/.exec(result.error?.message ?? '');
    expect(words).not.toBeNull();
    const echoed = execFileSync('sh', ['-c', `printf '%s\\n' ${words?.[1]} ${words?.[2]}`], {
      encoding: 'utf8',
    });
    expect(echoed).toBe(`${dbPath}\n${result.backupPath}\n`);
  });

  it('rolls back a statement that SQLite refuses, naming the statement', () => {
    const dbPath = sampleDb();
    const hash = contentHash(dbPath);
    const migration = fakeMigration({
      planUp: () => ({
        statements: [
          'CREATE TABLE fake_things (id INTEGER PRIMARY KEY)',
          'INSERT INTO no_such_table VALUES (1)',
        ],
        foreignKeysOff: false,
        foreignKeyCheckTables: [],
      }),
    });
    const result = new Migrator({ ...fast, migrations: [migration] }).up({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.MIGRATION_FAILED);
    expect(result.error?.message).toMatch(
      /^Statement 2 of 2 failed: no such table: no_such_table\. The database is unchanged\. Backup: /,
    );
    expect(contentHash(dbPath)).toBe(hash);
  });

  it('rolls back a change that would leave foreign-key violations', () => {
    const dbPath = sampleDb();
    const hash = contentHash(dbPath);
    const migration = fakeMigration({
      planUp: () => ({
        statements: [
          'PRAGMA defer_foreign_keys = ON',
          'CREATE TABLE fake_things (id INTEGER PRIMARY KEY, learning_id INTEGER REFERENCES learning_index(id))',
          'INSERT INTO fake_things VALUES (1, -5)',
        ],
        foreignKeysOff: false,
        foreignKeyCheckTables: ['fake_things', 'no_such_table'],
      }),
    });
    const result = new Migrator({ ...fast, migrations: [migration] }).up({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.FOREIGN_KEY_VIOLATION);
    expect(result.error?.message).toContain(
      'would leave 1 foreign-key violation(s) (first: fake_things rowid 1 references a missing row of learning_index)',
    );
    expect(result.verification?.foreignKeyViolations).toBe(1);
    expect(contentHash(dbPath)).toBe(hash);
  });

  it('rolls back when the verification inside the transaction finds an issue', () => {
    const dbPath = sampleDb();
    const hash = contentHash(dbPath);
    let calls = 0;
    const migration = fakeMigration({
      inspect: () => {
        calls += 1;
        return calls === 1
          ? { state: 'not-applied', issues: [] }
          : {
              state: 'applied',
              issues: [{ kind: 'wrong-thing', object: 'fake_things', message: 'fake_things is wrong.' }],
            };
      },
    });
    const result = new Migrator({ ...fast, migrations: [migration] }).up({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.VERIFY_FAILED);
    expect(result.error?.message).toContain(
      'Verification inside the transaction failed: fake_things is wrong.',
    );
    expect(result.verification).toMatchObject({ ok: false, issues: [{ kind: 'wrong-thing' }] });
    expect(contentHash(dbPath)).toBe(hash);
  });

  it('runs a migration of the caller’s own and its down with foreign keys turned back on', () => {
    const dbPath = sampleDb();
    const migrator = new Migrator({ ...fast, migrations: [fakeMigration()] });
    expect(migrator.migrationIds).toEqual(['900']);
    expect(migrator.up({ dbPath }).status).toBe('applied');
    expect(migrator.down({ dbPath }).status).toBe('rolled-back');
    expect(withDb(dbPath, (db) => tableExists(db, 'fake_things'))).toBe(false);
  });

  it('stops with DB_CHANGED when the file is replaced while the run starts', () => {
    const dbPath = sampleDb();
    const other = path.join(path.dirname(dbPath), 'other.db');
    fs.copyFileSync(dbPath, other);
    const migrator = new Migrator({
      ...fast,
      onProgress: (event) => {
        if (event.type === 'step' && event.step === 'lock') fs.renameSync(other, dbPath);
      },
    });
    const result = migrator.up({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.DB_CHANGED);
    expect(result.error?.retryable).toBe(true);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });
});

describe('Migrator: down over rows that break their CHECK constraints', () => {
  it('fails in one line naming the rows, and leaves the database as it was', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => {
      db.pragma('ignore_check_constraints = ON');
      db.exec("UPDATE learning_index SET category = 'folklore' WHERE id IN (3, 8)");
    });
    const hash = contentHash(dbPath);
    const result = new Migrator(fast).down({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.MIGRATION_FAILED);
    expect(result.error?.message).toMatch(
      /^Statement \d+ of \d+ failed: CHECK constraint failed: category IN \( 'technical', 'process', 'domain', 'architectural', 'team' \): 2 rows of learning_index break it \(rowid 3, 8\); correct or delete them, then run again\. The database is unchanged\. Backup: /,
    );
    expect(result.error?.message).not.toContain('\n');
    expect(contentHash(dbPath)).toBe(hash);
    expect(fileSha256(result.backupPath as string)).toBe(result.backupSha256);
  });

  it('is foreseen by a dry run, which names the same rows and writes nothing', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => {
      db.pragma('ignore_check_constraints = ON');
      db.exec("UPDATE learning_index SET category = 'folklore' WHERE id IN (3, 8)");
      db.exec("UPDATE learning_index SET source_type = 'rumour' WHERE id = 5");
    });
    const bytes = fileSha256(dbPath);
    const result = new Migrator(fast).down({ dbPath, dryRun: true });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe(ErrorCode.MIGRATION_FAILED);
    // The first constraint the rows break, in the order the definition gives them, as the real copy reports it.
    expect(result.error?.message).toBe(
      "Migration 006 down would fail when it copies the rows of learning_index: CHECK constraint failed: category IN ( 'technical', 'process', 'domain', 'architectural', 'team' ): 2 rows of learning_index break it (rowid 3, 8); correct or delete them, then run again. The database is unchanged.",
    );
    expect(result.backupPath).toBeNull();
    // Nothing would run: the plan of a dry run that fails is not offered as if it would.
    expect(result.plan).toEqual([]);
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);

    withDb(dbPath, (db) => db.exec("UPDATE learning_index SET category = 'process' WHERE id IN (3, 8)"));
    expect(new Migrator(fast).down({ dbPath, dryRun: true }).error?.message).toMatch(
      /CHECK constraint failed: source_type IN \( 'retrospective', .+ \): 1 row of learning_index breaks it \(rowid 5\); correct or delete it, then run again\./,
    );
  });

  it('is foreseen on a read-only connection too, where SQLite does not read CHECK constraints', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => {
      db.pragma('journal_mode = WAL');
      db.pragma('ignore_check_constraints = ON');
      db.exec("UPDATE learning_index SET category = 'folklore' WHERE id = 4");
    });
    // A connection left open keeps a -wal beside the database, so the dry run opens it read-only.
    const holder = new Database(dbPath);
    const readOnly = new Database(dbPath, { readonly: true });
    try {
      expect(holder.pragma('integrity_check', { simple: true })).not.toBe('ok');
      expect(fs.existsSync(`${dbPath}-wal`)).toBe(true);
      // SQLite parses no CHECK constraint for a read-only database: its own check cannot see the row.
      expect(readOnly.pragma('integrity_check', { simple: true })).toBe('ok');
      const result = new Migrator(fast).down({ dbPath, dryRun: true });
      expect(result.error?.message).toMatch(/: 1 row of learning_index breaks it \(rowid 4\);/);
    } finally {
      readOnly.close();
      holder.close();
    }
  });

  it('lets a dry run over rows that pass every constraint plan as before', () => {
    const dbPath = appliedDb();
    const result = new Migrator(fast).down({ dbPath, dryRun: true });
    expect(result.status).toBe('planned');
    expect(result.error).toBeNull();
  });
});

describe('Migrator: preconditions and bad inputs change nothing', () => {
  function expectRefused(
    dbPath: string,
    code: string,
    message: RegExp,
    options = {},
    op: 'up' | 'down' = 'up',
  ) {
    const exists = fs.existsSync(dbPath) && fs.statSync(dbPath).isFile();
    const bytes = exists ? fileSha256(dbPath) : null;
    // A directory's parent is the shared temp dir, where other test files come and go.
    const listing =
      exists || !fs.existsSync(dbPath)
        ? fs.statSync(path.dirname(dbPath), { throwIfNoEntry: false })?.isDirectory()
          ? filesBeside(dbPath)
          : []
        : [];
    const result = new Migrator({ ...fast, ...options }).run(op, { dbPath });
    expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null });
    expect(result.error?.code).toBe(code);
    expect(result.error?.message).toMatch(message);
    expect(result.error?.message.split('\n')).toHaveLength(1);
    if (bytes) expect(fileSha256(dbPath)).toBe(bytes);
    if (listing.length > 0) expect(filesBeside(dbPath)).toEqual(listing);
    return result;
  }

  it('refuses a missing file with DB_NOT_FOUND', () => {
    expectRefused(
      path.join(tempDir(), 'nope.db'),
      ErrorCode.DB_NOT_FOUND,
      /nope\.db: the file does not exist\./,
    );
  });

  it('refuses a path under a file with DB_NOT_FOUND', () => {
    const dbPath = sampleDb();
    expectRefused(path.join(dbPath, 'inner.db'), ErrorCode.DB_NOT_FOUND, /the file does not exist/);
  });

  it('refuses a directory with DB_IS_DIRECTORY', () => {
    expectRefused(tempDir(), ErrorCode.DB_IS_DIRECTORY, /is a directory, not a SQLite database file\./);
  });

  it.each([
    ['-journal', 'rollback journal', 'delete'],
    ['-wal', 'write-ahead log \\(WAL\\)', 'wal'],
    ['-shm', 'WAL index', 'wal'],
  ])('refuses a directory at %s with JOURNAL_NOT_A_FILE', (suffix, what, mode) => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => db.pragma(`journal_mode = ${mode}`));
    fs.mkdirSync(`${dbPath}${suffix}`);
    expectRefused(
      dbPath,
      ErrorCode.JOURNAL_NOT_A_FILE,
      new RegExp(`${suffix} is a directory, where SQLite keeps the database's ${what}: move it away`),
    );
  });

  it.each([
    ['up', false, false],
    ['up', true, false],
    ['down', false, false],
    ['down', true, false],
    ['up', false, true],
    ['down', false, true],
  ] as const)(
    'refuses %s (dry run: %s, WAL: %s) of a file with two hard links with DB_MULTIPLE_LINKS',
    (op, dryRun, wal) => {
      const dbPath = sampleDb({ wal });
      if (op === 'down') removeBackup(new Migrator(fast).up({ dbPath }).backupPath as string);
      const other = path.join(path.dirname(dbPath), 'other-name.db');
      fs.linkSync(dbPath, other);
      const bytes = fileSha256(dbPath);
      const result = new Migrator(fast).run(op, { dbPath, dryRun });
      expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null, plan: [] });
      expect(result.error).toMatchObject({ code: ErrorCode.DB_MULTIPLE_LINKS, retryable: false });
      expect(result.error?.message).toMatch(
        /^\S+documents\.db has 2 hard links \(.+\): give it one name, .+; nothing was changed\.$/,
      );
      expect(fileSha256(dbPath)).toBe(bytes);
      expect(filesBeside(dbPath)).toEqual(['documents.db', 'other-name.db']);
      expect(new Migrator(fast).verify({ dbPath }).error?.code).not.toBe(ErrorCode.DB_MULTIPLE_LINKS);
    },
  );

  it.each([
    ['up', false, false],
    ['up', true, false],
    ['down', false, false],
    ['down', true, false],
    ['up', false, true],
    ['up', true, true],
    ['down', false, true],
    ['down', true, true],
  ] as const)(
    'answers %s (dry run: %s, WAL: %s) with nothing to do on a file with two hard links as anywhere, writing nothing',
    (op, dryRun, wal) => {
      // Nothing to do: up on a database that has 006, down on one that has not.
      const dbPath = sampleDb({ wal });
      if (op === 'up') removeBackup(new Migrator(fast).up({ dbPath }).backupPath as string);
      const other = path.join(path.dirname(dbPath), 'other-name.db');
      fs.linkSync(dbPath, other);
      const bytes = fileSha256(dbPath);
      const result = new Migrator(fast).run(op, { dbPath, dryRun });
      expect(result).toMatchObject({
        ok: true,
        status: op === 'up' ? 'already-applied' : 'not-applied',
        backupPath: null,
        plan: [],
        error: null,
      });
      expect(fileSha256(dbPath)).toBe(bytes);
      expect(filesBeside(dbPath)).toEqual(['documents.db', 'other-name.db']);
      expect(fs.statSync(dbPath).nlink).toBe(2);
    },
  );

  it.each([
    ['up', false, 'backup'],
    ['up', true, 'backup'],
    ['down', false, 'rollback_backup'],
    ['down', true, 'pre_restore_backup'],
  ] as const)(
    'refuses %s (dry run: %s) of a %s a glob caught beside the database (DB_IS_BACKUP), changing nothing',
    (op, dryRun, kind) => {
      // A backup holds the database as it was: up (down) on a copy of a database without (with) 006, named as one.
      const dbPath = op === 'up' ? sampleDb() : appliedDb();
      const backup = path.join(path.dirname(dbPath), `documents.${kind}_20261124T101500123Z.db`);
      fs.renameSync(dbPath, backup);
      const listing = filesBeside(backup);
      const bytes = fileSha256(backup);
      const result = new Migrator(fast).run(op, { dbPath: backup, dryRun });
      expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null, plan: [] });
      expect(result.error).toMatchObject({ code: ErrorCode.DB_IS_BACKUP, retryable: false });
      expect(result.error?.message).toBe(
        `${backup} is a backup gao-migrate made, which a change would leave no longer holding the database as it was: give the database itself (by the backup's name, ${dbPath}), or restore the backup into it first with \`gao-migrate restore --db ${dbPath} --from ${backup}\`; nothing was changed.`,
      );
      expect(fileSha256(backup)).toBe(bytes);
      expect(filesBeside(backup)).toEqual(listing);
      // Reading it stays allowed, and so does a run with nothing to do.
      expect(new Migrator(fast).verify({ dbPath: backup }).error?.code).not.toBe(ErrorCode.DB_IS_BACKUP);
      const noOp = new Migrator(fast).run(op === 'up' ? 'down' : 'up', { dbPath: backup, dryRun });
      expect(noOp).toMatchObject({ ok: true, status: op === 'up' ? 'not-applied' : 'already-applied' });
      expect(fileSha256(backup)).toBe(bytes);
      expect(filesBeside(backup)).toEqual(listing);
    },
  );

  it("takes a database whose name only looks like a backup's (no full timestamp), as any other", () => {
    const dbPath = sampleDb();
    const named = path.join(path.dirname(dbPath), 'documents.backup_old.db');
    fs.renameSync(dbPath, named);
    expect(new Migrator(fast).up({ dbPath: named })).toMatchObject({ ok: true, status: 'applied' });
  });

  it('refuses a text file with NOT_A_DATABASE', () => {
    const dbPath = path.join(tempDir(), 'notes.db');
    fs.writeFileSync(dbPath, 'just some notes, not a database\n'.repeat(100));
    expectRefused(
      dbPath,
      ErrorCode.NOT_A_DATABASE,
      /is not a SQLite database \(its header is not SQLite's\)\./,
    );
  });

  it('refuses an empty file with NOT_A_DATABASE', () => {
    const dbPath = path.join(tempDir(), 'empty.db');
    fs.writeFileSync(dbPath, '');
    expectRefused(dbPath, ErrorCode.NOT_A_DATABASE, /is not a SQLite database/);
  });

  it('refuses a SQLite header followed by garbage with NOT_A_DATABASE', () => {
    const dbPath = path.join(tempDir(), 'garbage.db');
    fs.writeFileSync(
      dbPath,
      Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), Buffer.alloc(8192, 0xab)]),
    );
    expectRefused(dbPath, ErrorCode.NOT_A_DATABASE, /is not a SQLite database\./);
  });

  for (const dryRun of [false, true]) {
    it(`refuses a database with garbage pages with DB_CORRUPT${dryRun ? ' on a dry run' : ''}, leaving no backup`, () => {
      const dbPath = sampleDb({ learnings: 1500 });
      const bytes = fs.readFileSync(dbPath);
      for (let i = Math.floor(bytes.length / 2); i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
      fs.writeFileSync(dbPath, bytes);
      const before = fileSha256(dbPath);
      const result = new Migrator(fast).up({ dbPath, dryRun });
      expect(result.error?.code).toBe(ErrorCode.DB_CORRUPT);
      expect(result.error?.message).toMatch(
        /fails SQLite's quick_check \(Tree \d+ page \d+: .*, and \d+ more problem\(s\)\)(; nothing was changed\.|\. The database is unchanged\.)$/,
      );
      expect(result.error?.message.length).toBeLessThan(400);
      expect(fileSha256(dbPath)).toBe(before);
      expect(filesBeside(dbPath)).toEqual(['documents.db']);
    });
  }

  it('refuses a database without learning_index with MISSING_TABLE', () => {
    const dbPath = path.join(tempDir(), 'other.db');
    const db = new Database(dbPath);
    db.exec('CREATE TABLE epic_state (epic_num INTEGER)');
    db.close();
    expectRefused(
      dbPath,
      ErrorCode.MISSING_TABLE,
      /has no learning_index, schema_version tables: it is not a gao-dev project database/,
    );
  });

  it("says so when a view bears learning_index's name, and changes nothing", () => {
    const dbPath = sampleDb();
    const db = new Database(dbPath);
    db.exec(`PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON;
      ALTER TABLE learning_index RENAME TO learning_rows;
      CREATE VIEW learning_index AS SELECT * FROM learning_rows;`);
    db.close();
    for (const op of ['up', 'down'] as const) {
      expectRefused(
        dbPath,
        ErrorCode.MISSING_TABLE,
        /has no learning_index table \(learning_index is a view\): it is not a gao-dev project database/,
        {},
        op,
      );
    }
  });

  it('refuses a locked database with DB_LOCKED, which is retryable', () => {
    const dbPath = sampleDb();
    const other = new Database(dbPath);
    other.exec('BEGIN EXCLUSIVE');
    try {
      const result = expectRefused(dbPath, ErrorCode.DB_LOCKED, /the database is locked by another process/);
      expect(result.error?.retryable).toBe(true);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });

  it('refuses a WAL database whose write lock another connection holds with DB_LOCKED', () => {
    const dbPath = sampleDb({ wal: true });
    const other = new Database(dbPath);
    other.exec('BEGIN IMMEDIATE');
    try {
      const result = new Migrator(fast).up({ dbPath });
      expect(result.error?.code).toBe(ErrorCode.DB_LOCKED);
      expect(result.error?.message).toMatch(
        /^Cannot lock .*: the database is locked by another process\. The database is unchanged\.$/,
      );
      expect(filesBeside(dbPath).filter((name) => name.includes('backup'))).toEqual([]);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });

  it('refuses with INSUFFICIENT_DISK_SPACE when the reserve cannot fit', () => {
    expectRefused(
      sampleDb(),
      ErrorCode.INSUFFICIENT_DISK_SPACE,
      /Not enough free space beside .* nothing was changed\.$/,
      {
        reserveBytes: Number.MAX_SAFE_INTEGER,
      },
    );
  });

  it('names what a down writes when its room is short: the backup, the rebuilt table and the journal', () => {
    expectRefused(
      appliedDb(),
      ErrorCode.INSUFFICIENT_DISK_SPACE,
      /needed for the backup \(.+\), the rebuilt learning_index \(.+\), SQLite's journal \(.+\) and a reserve \(.+\); nothing was changed\.$/,
      { reserveBytes: Number.MAX_SAFE_INTEGER },
      'down',
    );
  });

  describe.each([
    ['rollback-journal', false],
    ['WAL', true],
  ] as const)('the free-space check of a dry run, on a %s database', (_mode, wal) => {
    const tooSmall = { reserveBytes: Number.MAX_SAFE_INTEGER };
    /** The sentence without its first figure (what is free just then), which changes as other tests write. */
    const needed = (message: string | undefined) => message?.replace(/: [\d.]+ \w+ free, /, ': … free, ');

    /** A database in this journal mode that `op` has something to do on, with nothing beside it. */
    function changeableDb(op: 'up' | 'down'): string {
      const dbPath = sampleDb({ wal });
      if (op === 'down') {
        const up = new Migrator(fast).up({ dbPath });
        removeBackup(up.backupPath as string);
      }
      expect(filesBeside(dbPath)).toEqual(['documents.db']);
      return dbPath;
    }

    /** Each file beside the database and its SHA-256, but the WAL index (-shm): any reader writes its read marks. */
    function snapshot(dbPath: string): Record<string, string> {
      const names = filesBeside(dbPath).filter((name) => !name.endsWith('-shm'));
      return Object.fromEntries(
        names.map((name) => [name, fileSha256(path.join(path.dirname(dbPath), name))]),
      );
    }

    it.each(['up', 'down'] as const)(
      'refuses a dry run of %s where the real run would be refused, with the same code and figures, writing nothing',
      (op) => {
        const dbPath = changeableDb(op);
        const before = snapshot(dbPath);

        const dryRun = new Migrator({ ...fast, ...tooSmall }).run(op, { dbPath, dryRun: true });
        expect(dryRun).toMatchObject({
          ok: false,
          status: 'failed',
          dryRun: true,
          plan: [],
          backupPath: null,
        });
        expect(dryRun.error?.code).toBe(ErrorCode.INSUFFICIENT_DISK_SPACE);
        expect(dryRun.error?.message).toMatch(
          /^Not enough free space beside .+; nothing was changed \(this was a dry run; the real run would be refused\)\.$/,
        );
        expect(snapshot(dbPath)).toEqual(before);
        expect(filesBeside(dbPath)).toEqual(['documents.db']);

        const real = new Migrator({ ...fast, ...tooSmall }).run(op, { dbPath });
        expect(real.error?.code).toBe(ErrorCode.INSUFFICIENT_DISK_SPACE);
        expect(needed(dryRun.error?.message)).toBe(
          needed(real.error?.message)?.replace(
            /nothing was changed\.$/,
            'nothing was changed (this was a dry run; the real run would be refused).',
          ),
        );
        expect(snapshot(dbPath)).toEqual(before);
        expect(filesBeside(dbPath)).toEqual(['documents.db']);
      },
    );

    it('measures the table a dry run of down would rebuild on a read-only connection too', () => {
      const dbPath = changeableDb('down');
      // Another connection keeps a -wal beside a WAL database; an empty -journal lies beside the other: either
      // way the dry run cannot read read-write without a trace, so it opens the database read-only.
      const other = wal ? new Database(dbPath) : undefined;
      if (!wal) fs.writeFileSync(`${dbPath}-journal`, '');
      try {
        other?.exec("UPDATE learning_index SET topic = 'kept in the WAL' WHERE id = 1");
        const before = snapshot(dbPath);
        const result = new Migrator({ ...fast, ...tooSmall }).down({ dbPath, dryRun: true });
        expect(result.error?.code).toBe(ErrorCode.INSUFFICIENT_DISK_SPACE);
        // dbstat answered: the rebuilt table and the journal have a size, not 0 B.
        expect(result.error?.message).toMatch(
          /needed for the backup \(.+\), the rebuilt learning_index \([\d.]+ [KM]iB\), SQLite's journal \([\d.]+ [KM]iB\) and a reserve/,
        );
        expect(snapshot(dbPath)).toEqual(before);
      } finally {
        other?.close();
      }
    });

    it.each(['up', 'down'] as const)('still plans a dry run of %s where the room is enough', (op) => {
      const dbPath = changeableDb(op);
      const bytes = fileSha256(dbPath);
      const result = new Migrator({ ...fast, reserveBytes: 0 }).run(op, { dbPath, dryRun: true });
      expect(result.status).toBe('planned');
      expect(fileSha256(dbPath)).toBe(bytes);
      expect(filesBeside(dbPath)).toEqual(['documents.db']);
    });
  });

  it('refuses an unknown migration with UNKNOWN_MIGRATION', () => {
    const dbPath = sampleDb();
    const result = new Migrator(fast).up({ dbPath, migration: '999' });
    expect(result.error).toMatchObject({
      code: ErrorCode.UNKNOWN_MIGRATION,
      message: expect.stringContaining('Unknown migration "999"; known: 006.'),
    });
    expect(result.migration).toBe('999');
    expect(new Migrator({ migrations: [] }).verify({ dbPath }).error?.code).toBe(ErrorCode.UNKNOWN_MIGRATION);
  });

  it('refuses an empty path with INVALID_INPUT', () => {
    const result = new Migrator(fast).up({ dbPath: '' });
    expect(result.error?.code).toBe(ErrorCode.INVALID_INPUT);
  });

  it('rejects unknown and malformed options when constructed', () => {
    expect(() => new Migrator({ busyTimeout: 5 } as never)).toThrow('Unknown Migrator option "busyTimeout"');
    expect(() => new Migrator({ busyTimeoutMs: -1 })).toThrow('busyTimeoutMs must be a non-negative integer');
    expect(() => new Migrator({ reserveBytes: Number.NaN })).toThrow(
      'reserveBytes must be a non-negative number',
    );
    expect(DEFAULT_BUSY_TIMEOUT_MS).toBe(5000);
  });

  it('refuses SCHEMA_DRIFT on up when 006 is partly applied', () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => db.exec('ALTER TABLE learning_index ADD COLUMN success_rate REAL DEFAULT 1.0'));
    expectRefused(
      dbPath,
      ErrorCode.SCHEMA_DRIFT,
      /^Migration 006 is partly applied \(10 differences from its definition, the first 3: Column learning_index\.application_count is missing\. Column learning_index\.confidence_score is missing\. Column learning_index\.decay_factor is missing\. gao-migrate verify lists them all\); fix the schema by hand or restore a backup\. The database is unchanged\./,
    );
    // verify lists every one of them.
    expect(new Migrator(fast).verify({ dbPath }).verification?.issues).toHaveLength(10);
  });

  it('names every difference of a partly applied 006 when there are few', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => db.exec("DELETE FROM schema_version WHERE version = '006'"));
    expectRefused(
      dbPath,
      ErrorCode.SCHEMA_DRIFT,
      /^Migration 006 is partly applied \(schema_version has no '006' row\.\); fix the schema by hand or restore a backup\. The database is unchanged\./,
    );
  });
});

describe('Migrator: verify', () => {
  it('verifies an applied database, with the full integrity check when asked', () => {
    const dbPath = appliedDb();
    const bytes = fileSha256(dbPath);
    const result = new Migrator(fast).verify({ dbPath, fullIntegrityCheck: true });
    expect(result).toMatchObject({ ok: true, status: 'verified', backupPath: null });
    expect(fileSha256(dbPath)).toBe(bytes);
  });

  it("answers 'not-applied' with NOT_APPLIED on a 005 database", () => {
    const dbPath = sampleDb();
    const result = new Migrator(fast).verify({ dbPath });
    expect(result).toMatchObject({
      ok: false,
      status: 'not-applied',
      error: { code: ErrorCode.NOT_APPLIED },
    });
    expect(result.verification).toMatchObject({ ok: false, state: 'not-applied' });
  });

  it('names a dropped index as VERIFY_DRIFT', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => db.exec('DROP INDEX idx_learning_index_category_active'));
    const result = new Migrator(fast).verify({ dbPath });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe(ErrorCode.VERIFY_DRIFT);
    expect(result.error?.message).toBe(
      'Migration 006 has drifted: Index idx_learning_index_category_active is missing.',
    );
    expect(result.verification?.issues).toEqual([
      expect.objectContaining({ kind: 'missing-index', object: 'idx_learning_index_category_active' }),
    ]);
  });

  it('names a column default recreated differently as VERIFY_DRIFT', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => {
      db.pragma('foreign_keys = OFF');
      db.exec('DROP INDEX idx_learning_index_relevance');
      db.exec('DROP INDEX idx_learning_index_category_active');
      db.exec('ALTER TABLE learning_index DROP COLUMN decay_factor');
      db.exec('ALTER TABLE learning_index ADD COLUMN decay_factor REAL DEFAULT 0.9');
      db.exec('CREATE INDEX idx_learning_index_category_active ON learning_index(category, is_active)');
      db.exec('CREATE INDEX idx_learning_index_relevance ON learning_index(relevance_score DESC)');
    });
    const result = new Migrator(fast).verify({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.VERIFY_DRIFT);
    expect(result.error?.message).toContain(
      'Column learning_index.decay_factor defaults to 0.9, expected 1.0.',
    );
  });

  it('reports foreign keys that are not enforced as VERIFY_DRIFT, not as a failure', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => {
      db.pragma('foreign_keys = OFF');
      db.exec('DROP INDEX idx_learning_applications_learning_id');
      db.exec('DROP INDEX idx_learning_applications_epic');
      db.exec('DROP INDEX idx_learning_applications_applied_at');
      const sql = db
        .prepare("SELECT sql FROM sqlite_schema WHERE name = 'learning_applications'")
        .pluck()
        .get() as string;
      db.exec('DROP TABLE learning_applications');
      db.exec(sql.replace('learning_index(id) ON DELETE CASCADE', 'learning_index(id)'));
      db.exec('CREATE INDEX idx_learning_applications_learning_id ON learning_applications(learning_id)');
      db.exec('CREATE INDEX idx_learning_applications_epic ON learning_applications(epic_num)');
      db.exec('CREATE INDEX idx_learning_applications_applied_at ON learning_applications(applied_at)');
    });
    const result = new Migrator(fast).verify({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.VERIFY_DRIFT);
    expect(result.verification?.issues.map((issue) => issue.kind)).toEqual([
      'missing-foreign-key',
      'cascade-not-enforced',
    ]);
  });

  it('counts foreign-key violations of learning_applications as drift, naming the first row', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => {
      db.pragma('foreign_keys = OFF');
      db.exec(
        "INSERT INTO learning_applications (learning_id, outcome, applied_at) VALUES (-1, 'success', 'now')",
      );
    });
    const result = new Migrator(fast).verify({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.VERIFY_DRIFT);
    expect(result.error?.message).toBe(
      'Migration 006 is applied as defined, but 1 row(s) break a foreign key (first: learning_applications rowid 1 references a missing row of learning_index); correct or delete them.',
    );
    expect(result.verification?.foreignKeyViolations).toBe(1);
  });

  it('says a database that fails its integrity check is applied as defined, but unsound', () => {
    const dbPath = appliedDb();
    withDb(dbPath, (db) => {
      db.pragma('ignore_check_constraints = ON');
      db.exec("UPDATE documents SET state = 'lost' WHERE id = (SELECT min(id) FROM documents)");
    });
    const result = new Migrator(fast).verify({ dbPath });
    expect(result.error).toMatchObject({
      code: ErrorCode.VERIFY_DRIFT,
      message:
        'Migration 006 is applied as defined, but the database fails its integrity check: CHECK constraint failed in documents.',
    });
    expect(result.verification).toMatchObject({ state: 'applied', issues: [] });
  });

  it('reports a partly applied migration as drift', () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => db.exec("INSERT INTO schema_version VALUES ('006', 'now', 'recorded by hand')"));
    const result = new Migrator(fast).verify({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.VERIFY_DRIFT);
    expect(result.verification?.state).toBe('partial');
  });
});
