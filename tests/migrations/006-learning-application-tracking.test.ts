import type { Database as DatabaseHandle } from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/engine/errors.js';
import { HISTORY_TABLE } from '../../src/engine/history.js';
import { Migrator } from '../../src/engine/migrator.js';
import type { Migration } from '../../src/engine/types.js';
import {
  learningIndexDefinitionBefore006,
  migration006,
  NEW_COLUMNS,
  NEW_INDEXES,
} from '../../src/migrations/006-learning-application-tracking.js';
import { LEARNING_INDEX_005_SQL } from '../../src/migrations/baseline-005.js';
import {
  contentHash,
  fileSha256,
  filesBeside,
  LEARNING_COLUMNS_005,
  sampleDb,
  schemaOf,
  tableHashes,
  withDb,
} from '../helpers/sqlite.js';

const migrator = new Migrator({ busyTimeoutMs: 200 });

function up(dbPath: string) {
  const result = migrator.up({ dbPath });
  expect(result.error).toBeNull();
  expect(result.status).toBe('applied');
  return result;
}

function down(dbPath: string) {
  const result = migrator.down({ dbPath });
  expect(result.error).toBeNull();
  expect(result.status).toBe('rolled-back');
  return result;
}

function planOf(db: DatabaseHandle, sql: string, ...params: unknown[]): string {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
    .map((row) => row.detail)
    .join(' | ');
}

function learningIndexSql(db: DatabaseHandle): string {
  return (
    db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'learning_index'").get() as {
      sql: string;
    }
  ).sql;
}

function addApplications(dbPath: string): void {
  withDb(dbPath, (db) => {
    db.exec(
      "INSERT INTO learning_applications (learning_id, epic_num, story_num, outcome, applied_at) SELECT id, epic_num, story_num, 'success', created_at FROM learning_index WHERE id % 7 = 0",
    );
  });
}

describe('migration 006 up', () => {
  it('adds the four metric columns with their defaults, read by existing rows without rewriting them', () => {
    const dbPath = sampleDb();
    const before = tableHashes(dbPath, { learning_index: LEARNING_COLUMNS_005 });
    up(dbPath);
    withDb(dbPath, (db) => {
      const columns = db
        .prepare('SELECT name, type, dflt_value FROM pragma_table_info(?)')
        .all('learning_index');
      expect(columns).toEqual(
        expect.arrayContaining(
          NEW_COLUMNS.map((column) => ({
            name: column.name,
            type: column.type,
            dflt_value: column.defaultValue,
          })),
        ),
      );
      const distinct = db
        .prepare(
          'SELECT DISTINCT application_count, success_rate, confidence_score, decay_factor FROM learning_index',
        )
        .all();
      expect(distinct).toEqual([
        { application_count: 0, success_rate: 1.0, confidence_score: 0.5, decay_factor: 1.0 },
      ]);
      const count = db.prepare('SELECT count(*) AS n FROM learning_index').get() as { n: number };
      expect(count.n).toBe(300);
    });
    const after = tableHashes(dbPath, { learning_index: LEARNING_COLUMNS_005 });
    // schema_version gains exactly the '006' row (checked below); every other table keeps every row.
    for (const [table, hash] of Object.entries(before)) {
      if (table !== 'schema_version') expect({ table, hash: after[table] }).toEqual({ table, hash });
    }
    const versions = withDb(dbPath, (db) =>
      db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all(),
    );
    expect(versions).toEqual(['001', '002', '003', '004', '005', '006']);
  });

  it('creates learning_applications with its columns, NOT NULLs, CHECK and foreign keys', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      const columns = db
        .prepare('SELECT name, type, "notnull", pk FROM pragma_table_info(?)')
        .all('learning_applications');
      expect(columns).toEqual([
        { name: 'id', type: 'INTEGER', notnull: 0, pk: 1 },
        { name: 'learning_id', type: 'INTEGER', notnull: 1, pk: 0 },
        { name: 'epic_num', type: 'INTEGER', notnull: 0, pk: 0 },
        { name: 'story_num', type: 'INTEGER', notnull: 0, pk: 0 },
        { name: 'outcome', type: 'TEXT', notnull: 1, pk: 0 },
        { name: 'application_context', type: 'TEXT', notnull: 0, pk: 0 },
        { name: 'applied_at', type: 'TEXT', notnull: 1, pk: 0 },
        { name: 'metadata', type: 'JSON', notnull: 0, pk: 0 },
      ]);
      const fks = db
        .prepare('SELECT "table", "from", "to", on_delete FROM pragma_foreign_key_list(?) ORDER BY "from"')
        .all('learning_applications');
      expect(fks).toEqual([
        { table: 'epic_state', from: 'epic_num', to: 'epic_num', on_delete: 'SET NULL' },
        { table: 'learning_index', from: 'learning_id', to: 'id', on_delete: 'CASCADE' },
      ]);
      expect(
        db.prepare('SELECT sql FROM sqlite_schema WHERE name = ?').pluck().get('learning_applications'),
      ).toMatch(/id INTEGER PRIMARY KEY AUTOINCREMENT/);
    });
  });

  it('enforces the CHECK, the NOT NULLs and both foreign-key actions with foreign keys on', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.pragma('foreign_keys = ON');
      const insert = db.prepare(
        'INSERT INTO learning_applications (learning_id, epic_num, outcome, applied_at) VALUES (?, ?, ?, ?)',
      );
      expect(() => insert.run(1, 1, 'maybe', 'now')).toThrow(/CHECK constraint failed/);
      expect(() => insert.run(1, 1, 'success', null)).toThrow(/NOT NULL constraint failed/);
      expect(() => insert.run(null, 1, 'success', 'now')).toThrow(/NOT NULL constraint failed/);
      expect(() => insert.run(999_999, 1, 'success', 'now')).toThrow(/FOREIGN KEY constraint failed/);
      expect(() => insert.run(1, 999, 'success', 'now')).toThrow(/FOREIGN KEY constraint failed/);
      for (const outcome of ['success', 'failure', 'partial']) insert.run(2, 1, outcome, 'now');
      const cascaded = insert.run(3, 1, 'success', 'now').lastInsertRowid;
      db.prepare('UPDATE learning_index SET superseded_by = NULL WHERE superseded_by = 3').run();
      db.prepare('DELETE FROM learning_index WHERE id = 3').run();
      expect(db.prepare('SELECT 1 FROM learning_applications WHERE id = ?').get(cascaded)).toBeUndefined();
      db.prepare('DELETE FROM epic_state WHERE epic_num = 1').run();
      const epics = db
        .prepare('SELECT DISTINCT epic_num FROM learning_applications WHERE learning_id = 2')
        .all();
      expect(epics).toEqual([{ epic_num: null }]);
    });
  });

  it("creates the five indexes and records '006' in schema_version; verify passes", () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      for (const index of NEW_INDEXES) {
        const row = db
          .prepare("SELECT tbl_name FROM sqlite_schema WHERE type = 'index' AND name = ?")
          .get(index.name);
        expect(row).toEqual({ tbl_name: index.table });
      }
      const version = db.prepare("SELECT description FROM schema_version WHERE version = '006'").get();
      expect(version).toEqual({ description: migration006.description });
    });
    const verified = migrator.verify({ dbPath });
    expect(verified.status).toBe('verified');
    expect(verified.verification).toMatchObject({ ok: true, state: 'applied', issues: [], integrity: 'ok' });
  });

  it('lets SQLite answer the tracked queries from the new indexes', () => {
    const dbPath = sampleDb();
    up(dbPath);
    addApplications(dbPath);
    withDb(dbPath, (db) => {
      expect(planOf(db, 'SELECT * FROM learning_applications WHERE learning_id = ?', 7)).toContain(
        'USING INDEX idx_learning_applications_learning_id (learning_id=?)',
      );
      expect(planOf(db, 'SELECT * FROM learning_applications WHERE epic_num = ?', 2)).toContain(
        'USING INDEX idx_learning_applications_epic (epic_num=?)',
      );
      const byDate = planOf(db, 'SELECT * FROM learning_applications ORDER BY applied_at');
      expect(byDate).toContain('USING INDEX idx_learning_applications_applied_at');
      expect(byDate).not.toContain('TEMP B-TREE');
      expect(
        planOf(db, 'SELECT * FROM learning_index WHERE category = ? AND is_active = ?', 'process', 1),
      ).toContain('USING INDEX idx_learning_index_category_active (category=? AND is_active=?)');
      // 005's idx_learning_relevance covers the same order; SQLite picks the newer one, and never sorts.
      const byRelevance = planOf(db, 'SELECT * FROM learning_index ORDER BY relevance_score DESC LIMIT 10');
      expect(byRelevance).toContain('USING INDEX idx_learning_index_relevance');
      expect(byRelevance).not.toContain('TEMP B-TREE');
    });
  });

  it('keeps superseded_by chains intact', () => {
    const dbPath = sampleDb();
    const chain = (db: DatabaseHandle) =>
      db
        .prepare('SELECT id, superseded_by FROM learning_index WHERE superseded_by IS NOT NULL ORDER BY id')
        .all();
    const before = withDb(dbPath, chain);
    expect(before.length).toBeGreaterThan(50);
    up(dbPath);
    expect(withDb(dbPath, chain)).toEqual(before);
    down(dbPath);
    expect(withDb(dbPath, chain)).toEqual(before);
  });

  it('records the definition learning_index had, in the history table', () => {
    const dbPath = sampleDb();
    const original = withDb(dbPath, learningIndexSql);
    up(dbPath);
    withDb(dbPath, (db) => {
      expect(learningIndexDefinitionBefore006(db)).toBe(original);
      expect(db.prepare(`SELECT count(*) FROM ${HISTORY_TABLE}`).pluck().get()).toBe(1);
    });
  });
});

describe('migration 006 down', () => {
  it('gives back exactly the original database: every row, the schema and the CREATE TABLE text', () => {
    const dbPath = sampleDb({ learnings: 2000, documents: 60 });
    const hash = contentHash(dbPath);
    const schema = withDb(dbPath, schemaOf);
    up(dbPath);
    addApplications(dbPath);
    down(dbPath);
    withDb(dbPath, (db) => {
      expect(schemaOf(db)).toEqual(schema);
      expect(learningIndexSql(db)).toBe(LEARNING_INDEX_005_SQL);
      expect(db.pragma('foreign_key_check')).toEqual([]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    });
    expect(contentHash(dbPath)).toBe(hash);
    expect(migrator.verify({ dbPath }).status).toBe('not-applied');
  });

  it('reports what it discards: the applications and the learnings whose metrics left their defaults', () => {
    const dbPath = sampleDb({ learnings: 300 });
    expect(up(dbPath).discarded).toEqual([]);
    addApplications(dbPath);
    withDb(dbPath, (db) => {
      db.exec('UPDATE learning_index SET application_count = 3 WHERE id IN (1, 2)');
      db.exec('UPDATE learning_index SET decay_factor = NULL WHERE id = 3');
      db.exec('UPDATE learning_index SET success_rate = 1.0, confidence_score = 0.5 WHERE id = 4');
    });
    const applications = withDb(dbPath, (db) =>
      Number(db.prepare('SELECT count(*) FROM learning_applications').pluck().get()),
    );
    expect(applications).toBeGreaterThan(1);
    const expected = [
      { object: 'learning_applications', rows: applications },
      { object: expect.stringContaining('learning_index (application_count'), rows: 3 },
    ];

    const planned = migrator.down({ dbPath, dryRun: true });
    expect(planned.status).toBe('planned');
    expect(planned.discarded).toMatchObject(expected);

    const result = down(dbPath);
    expect(result.discarded).toMatchObject(expected);
    expect(result.discarded[0]?.message).toBe(`${applications} rows of learning_applications`);
    expect(result.discarded[1]?.message).toBe('the metrics of 3 learnings (values other than the defaults)');
    // What it reports gone is in the backup, row for row.
    withDb(result.backupPath as string, (backup) => {
      expect(backup.prepare('SELECT count(*) FROM learning_applications').pluck().get()).toBe(applications);
      expect(
        backup.prepare('SELECT count(*) FROM learning_index WHERE application_count = 3').pluck().get(),
      ).toBe(2);
    });
    // Nothing left to drop: a second down changes nothing and reports nothing.
    expect(migrator.down({ dbPath }).discarded).toEqual([]);
  });

  it('reports 0 rows when nothing was stored in what it removes, and nothing when it fails', () => {
    const dbPath = sampleDb();
    up(dbPath);
    expect(down(dbPath).discarded.map((item) => item.rows)).toEqual([0, 0]);
    up(dbPath);
    addApplications(dbPath);
    withDb(dbPath, (db) => db.exec('CREATE VIEW my_rates AS SELECT id, success_rate FROM learning_index'));
    const refused = migrator.down({ dbPath });
    expect(refused.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
    expect(refused.discarded).toEqual([]);
  });

  it('keeps the AUTOINCREMENT counter above the highest id', () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => {
      db.prepare('UPDATE learning_index SET superseded_by = NULL WHERE superseded_by > 290').run();
      db.prepare('DELETE FROM learning_index WHERE id > 290').run();
    });
    const seq = () =>
      withDb(dbPath, (db) =>
        db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'learning_index'").pluck().get(),
      );
    expect(seq()).toBe(300);
    up(dbPath);
    down(dbPath);
    expect(seq()).toBe(300);
    withDb(dbPath, (db) => {
      const id = db
        .prepare(
          "INSERT INTO learning_index (topic, category, learning, indexed_at, created_at) VALUES ('t', 'team', 'l', 'x', 'x')",
        )
        .run().lastInsertRowid;
      expect(id).toBe(301);
    });
  });

  it("keeps every row of a user's table that references learning_index ON DELETE CASCADE", () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => {
      db.exec(`CREATE TABLE my_notes (
        id INTEGER PRIMARY KEY,
        learning_id INTEGER NOT NULL REFERENCES learning_index(id) ON DELETE CASCADE,
        note TEXT
      )`);
      db.exec("INSERT INTO my_notes (learning_id, note) SELECT id, 'note ' || id FROM learning_index");
    });
    const notesSql = withDb(dbPath, (db) =>
      db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'my_notes'").pluck().get(),
    );
    const hash = contentHash(dbPath);
    up(dbPath);
    down(dbPath);
    withDb(dbPath, (db) => {
      expect(db.prepare('SELECT count(*) FROM my_notes').pluck().get()).toBe(300);
      expect(db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'my_notes'").pluck().get()).toBe(
        notesSql,
      );
      db.pragma('foreign_keys = ON');
      db.prepare('DELETE FROM my_notes WHERE learning_id = 5').run();
      db.prepare('UPDATE learning_index SET superseded_by = NULL WHERE superseded_by = 6').run();
      db.prepare('DELETE FROM learning_index WHERE id = 6').run();
      expect(db.prepare('SELECT count(*) FROM my_notes WHERE learning_id = 6').pluck().get()).toBe(0);
    });
    expect(hash).not.toBe(contentHash(dbPath));
  });

  it("keeps users' own views, triggers and indexes on learning_index, and they still work", () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => {
      db.exec('CREATE VIEW my_active AS SELECT id, topic FROM learning_index WHERE is_active = 1');
      db.exec('CREATE INDEX my_topic_created ON learning_index(topic, created_at)');
      db.exec('CREATE TABLE my_audit (learning_id INTEGER, what TEXT)');
      db.exec(
        "CREATE TRIGGER my_learning_audit AFTER INSERT ON learning_index BEGIN INSERT INTO my_audit VALUES (new.id, 'insert'); END",
      );
      db.exec(
        "CREATE TRIGGER my_epic_audit AFTER UPDATE ON epic_state BEGIN UPDATE learning_index SET context = 'epic changed' WHERE epic_num = new.epic_num; END",
      );
    });
    const schema = withDb(dbPath, schemaOf);
    const hash = contentHash(dbPath);
    up(dbPath);
    down(dbPath);
    expect(withDb(dbPath, schemaOf)).toEqual(schema);
    expect(contentHash(dbPath)).toBe(hash);
    withDb(dbPath, (db) => {
      const active = db.prepare('SELECT count(*) FROM my_active').pluck().get() as number;
      expect(active).toBe(
        db.prepare('SELECT count(*) FROM learning_index WHERE is_active = 1').pluck().get(),
      );
      expect(
        planOf(db, 'SELECT * FROM learning_index WHERE topic = ? AND created_at = ?', 'a', 'b'),
      ).toContain('my_topic_created');
      const id = db
        .prepare(
          "INSERT INTO learning_index (topic, category, learning, indexed_at, created_at) VALUES ('t', 'team', 'l', 'x', 'x')",
        )
        .run().lastInsertRowid;
      expect(db.prepare('SELECT what FROM my_audit WHERE learning_id = ?').pluck().get(id)).toBe('insert');
      db.prepare("UPDATE epic_state SET title = 'renamed' WHERE epic_num = 2").run();
      expect(
        db.prepare("SELECT count(*) FROM learning_index WHERE context = 'epic changed'").pluck().get(),
      ).toBe(db.prepare('SELECT count(*) FROM learning_index WHERE epic_num = 2').pluck().get());
    });
  });

  it('keeps a trigger of the user that names learning_index in another case (SQLite keeps that case as its table)', () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => {
      db.exec('CREATE TABLE my_audit (learning_id INTEGER)');
      db.exec(
        'CREATE TRIGGER my_audit_insert AFTER INSERT ON Learning_Index BEGIN INSERT INTO my_audit VALUES (new.id); END',
      );
    });
    const hash = contentHash(dbPath);
    up(dbPath);
    down(dbPath);
    expect(contentHash(dbPath)).toBe(hash);
    withDb(dbPath, (db) => {
      const id = db
        .prepare(
          "INSERT INTO learning_index (topic, category, learning, indexed_at, created_at) VALUES ('t', 'team', 'l', 'x', 'x')",
        )
        .run().lastInsertRowid;
      expect(db.prepare('SELECT count(*) FROM my_audit WHERE learning_id = ?').pluck().get(id)).toBe(1);
    });
  });

  it("refuses, dry run and real run alike, an index on learning_index that needs a function of the user's application", () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => {
      db.function('slugify', { deterministic: true }, (topic) => String(topic).toLowerCase());
      db.exec('CREATE INDEX my_topic_slug ON learning_index(slugify(topic))');
    });
    up(dbPath);
    const bytes = fileSha256(dbPath);
    for (const dryRun of [true, false]) {
      const result = migrator.down({ dbPath, dryRun });
      expect(result.error?.code).toBe(ErrorCode.MIGRATION_FAILED);
      expect(result.error?.message).toMatch(
        /^Cannot rebuild learning_index: index my_topic_slug needs what SQLite does not have here \(no such function: slugify\)/,
      );
      expect(result.backupPath).toBeNull();
    }
    expect(fileSha256(dbPath)).toBe(bytes);
  });

  it("refuses with LATER_MIGRATION_APPLIED while a '007' row is present", () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec("INSERT INTO schema_version VALUES ('007', 'now', 'later')");
    });
    const bytes = fileSha256(dbPath);
    const result = migrator.down({ dbPath });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe(ErrorCode.LATER_MIGRATION_APPLIED);
    expect(result.error?.message).toMatch(/007 is applied and builds on 006: roll it back first/);
    expect(result.backupPath).toBeNull();
    expect(fileSha256(dbPath)).toBe(bytes);
  });

  it('refuses with DEPENDENT_OBJECTS when a view uses success_rate', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec('CREATE VIEW my_stats AS SELECT id, success_rate FROM learning_index');
    });
    const bytes = fileSha256(dbPath);
    const result = migrator.down({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
    expect(result.error?.message).toContain('view my_stats uses');
    expect(fileSha256(dbPath)).toBe(bytes);
  });

  it('refuses with DEPENDENT_OBJECTS, also on a dry run, when a table of the user references learning_applications', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec(
        'CREATE TABLE application_notes (id INTEGER PRIMARY KEY, application_id INTEGER REFERENCES learning_applications(id) ON DELETE CASCADE, note TEXT)',
      );
    });
    const bytes = fileSha256(dbPath);
    for (const dryRun of [true, false]) {
      const result = migrator.down({ dbPath, dryRun });
      expect(result.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
      expect(result.error?.message).toContain('table application_notes uses learning_applications');
      expect(result.backupPath).toBeNull();
    }
    expect(fileSha256(dbPath)).toBe(bytes);
  });

  it('names every dependent object when several use what down removes', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec('CREATE VIEW my_apps AS SELECT * FROM learning_applications');
      db.exec('CREATE INDEX my_decay ON learning_index(decay_factor)');
    });
    const result = migrator.down({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
    expect(result.error?.message).toMatch(/view my_apps, index my_decay use .* drop or change them first/);
  });

  it('rolls back past objects of the user that only name a column as 006 does: an index on another table, an alias, a comment', () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => {
      db.exec(`
        CREATE TABLE team_stats (team TEXT PRIMARY KEY, success_rate REAL, confidence_score REAL);
        CREATE INDEX idx_team_stats_success ON team_stats(success_rate DESC);
        CREATE VIEW learning_confidence AS SELECT id, relevance_score * 0.5 AS confidence_score, CAST(is_active AS "decay_factor") AS active FROM learning_index;
        CREATE TRIGGER learning_touched AFTER UPDATE ON learning_index BEGIN
          -- keeps team_stats.success_rate fresh /* application_count later */
          UPDATE team_stats SET team = team WHERE team = new.topic;
        END;`);
    });
    const before = contentHash(dbPath);
    up(dbPath);
    down(dbPath);
    expect(contentHash(dbPath)).toBe(before);
  });

  it('still refuses an index on learning_index, and a view or trigger, that uses a column 006 added', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec(`
        CREATE INDEX my_rates ON learning_index("success_rate");
        CREATE VIEW my_confidence AS SELECT id AS learning, confidence_score AS confidence_score FROM learning_index;
        CREATE TABLE my_log (id INTEGER);
        CREATE TRIGGER my_count AFTER UPDATE OF [application_count] ON learning_index BEGIN INSERT INTO my_log VALUES (new.id); END;`);
    });
    const result = migrator.down({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
    expect(result.error?.message).toContain('index my_rates, view my_confidence, trigger my_count use');
  });

  it('refuses with SCHEMA_DRIFT when a user added a column to learning_index after up', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec('ALTER TABLE learning_index ADD COLUMN my_flag INTEGER');
    });
    const bytes = fileSha256(dbPath);
    const result = migrator.down({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.SCHEMA_DRIFT);
    expect(result.error?.message).toContain('column my_flag that neither 005 nor 006 defines');
    expect(fileSha256(dbPath)).toBe(bytes);
  });

  it('falls back to the 005 definition when the history row is missing', () => {
    const dbPath = sampleDb();
    const schema = withDb(dbPath, schemaOf);
    const hash = contentHash(dbPath);
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec(`DROP TABLE ${HISTORY_TABLE}`);
      expect(learningIndexDefinitionBefore006(db)).toBe(LEARNING_INDEX_005_SQL);
    });
    const result = down(dbPath);
    expect(result.plan).not.toContain(`DROP TABLE ${HISTORY_TABLE}`);
    expect(withDb(dbPath, schemaOf)).toEqual(schema);
    expect(contentHash(dbPath)).toBe(hash);
  });

  it('keeps the history rows of other migrations and only forgets its own', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec(
        `INSERT INTO ${HISTORY_TABLE} VALUES ('099', 'documents', 'CREATE TABLE documents (x)', 'now')`,
      );
    });
    const result = down(dbPath);
    expect(result.plan).toContain(`DELETE FROM ${HISTORY_TABLE} WHERE migration = '006'`);
    withDb(dbPath, (db) => {
      expect(db.prepare(`SELECT migration FROM ${HISTORY_TABLE}`).pluck().all()).toEqual(['099']);
    });
  });

  it('rebuilds learning_index with the exact definition it had before up, not the 005 one', () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => {
      // A database whose learning_index was already rebuilt by hand (another spacing, one extra column).
      db.pragma('foreign_keys = OFF');
      db.exec(`CREATE TABLE learning_index_new (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, category TEXT NOT NULL,
        learning TEXT NOT NULL, context TEXT, source_type TEXT, epic_num INTEGER, story_num INTEGER, relevance_score REAL DEFAULT 1.0,
        superseded_by INTEGER, is_active INTEGER NOT NULL DEFAULT 1, indexed_at TEXT NOT NULL, created_at TEXT NOT NULL, metadata JSON,
        legacy_note TEXT)`);
      db.exec(`INSERT INTO learning_index_new SELECT *, 'n' FROM learning_index`);
      db.exec('DROP TABLE learning_index');
      db.exec('ALTER TABLE learning_index_new RENAME TO learning_index');
    });
    const sql = withDb(dbPath, learningIndexSql);
    const hash = contentHash(dbPath);
    up(dbPath);
    down(dbPath);
    expect(withDb(dbPath, learningIndexSql)).toBe(sql);
    expect(contentHash(dbPath)).toBe(hash);
  });
});

describe('migration 006 inspect', () => {
  it('names a missing index and a changed default as drift', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec('DROP INDEX idx_learning_applications_epic');
      const { state, issues } = migration006.inspect(db);
      expect(state).toBe('partial');
      expect(issues).toEqual([
        expect.objectContaining({ kind: 'missing-index', object: 'idx_learning_applications_epic' }),
      ]);
    });
  });

  it('names a wrong type, a wrong default, a wrong index and a wrong applications table', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.pragma('foreign_keys = OFF');
      // Recreate learning_index with success_rate TEXT DEFAULT 0.9 (a copy that drifted).
      const sql = learningIndexSql(db).replace(
        'success_rate REAL DEFAULT 1.0',
        'success_rate TEXT DEFAULT 0.9',
      );
      db.exec('ALTER TABLE learning_index RENAME TO li_old');
      db.exec(sql);
      db.exec('DROP TABLE li_old');
      db.exec('DROP INDEX IF EXISTS idx_learning_index_relevance');
      db.exec('CREATE INDEX idx_learning_index_relevance ON learning_index(relevance_score)');
      db.exec('DROP TABLE learning_applications');
      db.exec(`CREATE TABLE learning_applications (id INTEGER PRIMARY KEY, learning_id INTEGER, epic_num INTEGER,
        outcome TEXT NOT NULL, application_context TEXT, applied_at TEXT, metadata JSON)`);
      for (const index of NEW_INDEXES) {
        if (index.table === 'learning_applications')
          db.exec(`CREATE INDEX ${index.name} ON learning_applications(${index.columns[0]})`);
      }
      db.exec('CREATE INDEX idx_learning_index_category_active ON learning_index(category, is_active)');
      const { state, issues } = migration006.inspect(db);
      expect(state).toBe('applied');
      const named = issues.map((issue) => `${issue.kind} ${issue.object}`);
      expect(named).toEqual(
        expect.arrayContaining([
          'wrong-type learning_index.success_rate',
          'wrong-default learning_index.success_rate',
          'wrong-index idx_learning_index_relevance',
          'wrong-column learning_applications.learning_id',
          'missing-column learning_applications.story_num',
          'missing-autoincrement learning_applications.id',
          'missing-check learning_applications.outcome',
          'missing-foreign-key learning_applications.learning_id',
          'missing-foreign-key learning_applications.epic_num',
        ]),
      );
      expect(issues.find((issue) => issue.object === 'idx_learning_index_relevance')?.message).toBe(
        'Index idx_learning_index_relevance is on learning_index(relevance_score), expected learning_index(relevance_score DESC).',
      );
    });
  });

  it('names an index made UNIQUE, partial or with another collation as wrong', () => {
    const cases = [
      [
        'CREATE UNIQUE INDEX idx_learning_applications_learning_id ON learning_applications(learning_id)',
        'is a UNIQUE index on learning_applications(learning_id),',
      ],
      [
        'CREATE INDEX idx_learning_applications_learning_id ON learning_applications(learning_id) WHERE epic_num > 1000000',
        'is on learning_applications(learning_id) with a WHERE clause,',
      ],
      [
        'CREATE INDEX idx_learning_applications_learning_id ON learning_applications(learning_id COLLATE NOCASE)',
        'is on learning_applications(learning_id COLLATE NOCASE),',
      ],
    ];
    for (const [sql, message] of cases) {
      const dbPath = sampleDb({ learnings: 20 });
      up(dbPath);
      withDb(dbPath, (db) => {
        db.exec('DROP INDEX idx_learning_applications_learning_id');
        db.exec(sql as string);
      });
      const result = migrator.verify({ dbPath });
      expect(result.error?.code).toBe(ErrorCode.VERIFY_DRIFT);
      expect(result.error?.message).toContain(`Index idx_learning_applications_learning_id ${message}`);
    }
  });

  it('reports what remains after a down that left objects behind', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.exec('DROP TABLE learning_applications');
      expect(migration006.inspectReverted(db).map((issue) => issue.kind)).toEqual(['not-reverted']);
    });
    const clean = sampleDb();
    withDb(clean, (db) => expect(migration006.inspectReverted(db)).toEqual([]));
  });

  it('reports constraints that are not enforced', () => {
    const dbPath = sampleDb();
    up(dbPath);
    withDb(dbPath, (db) => {
      db.pragma('foreign_keys = OFF');
      db.exec('DROP TABLE learning_applications');
      db.exec(`CREATE TABLE learning_applications (id INTEGER PRIMARY KEY AUTOINCREMENT, learning_id INTEGER NOT NULL, epic_num INTEGER,
        story_num INTEGER, outcome TEXT NOT NULL, application_context TEXT, applied_at TEXT, metadata JSON,
        FOREIGN KEY (learning_id) REFERENCES learning_index(id))`);
      db.pragma('foreign_keys = ON');
      const kinds = migration006.probeConstraints?.(db).map((issue) => issue.kind);
      expect(kinds).toEqual(['check-not-enforced', 'not-null-not-enforced', 'cascade-not-enforced']);
      db.exec('DROP TABLE learning_applications');
      db.exec(`CREATE TABLE learning_applications (id INTEGER PRIMARY KEY AUTOINCREMENT, learning_id INTEGER NOT NULL, epic_num INTEGER,
        story_num INTEGER, outcome TEXT NOT NULL, application_context TEXT, applied_at TEXT NOT NULL, metadata JSON)`);
      expect(migration006.probeConstraints?.(db).map((issue) => issue.kind)).toEqual([
        'check-not-enforced',
        'foreign-key-not-enforced',
        'cascade-not-enforced',
      ]);
      expect(
        db.prepare("SELECT count(*) FROM learning_index WHERE topic = 'gao-migrate probe'").pluck().get(),
      ).toBe(0);
    });
  });

  it('applies and verifies where learning ids pass 2^53 or a trigger of the user refuses, skips, renumbers or removes new or deleted learnings', () => {
    const setups = [
      "INSERT INTO learning_index (id, topic, category, learning, indexed_at, created_at) VALUES (9007199254740994, 't', 'technical', 'l', '2026-01-01', '2026-01-01')",
      "CREATE TRIGGER li_validate BEFORE INSERT ON learning_index WHEN datetime(NEW.indexed_at) IS NULL BEGIN SELECT RAISE(ABORT, 'indexed_at must be an ISO datetime'); END",
      'CREATE TRIGGER li_frozen BEFORE INSERT ON learning_index BEGIN SELECT RAISE(IGNORE); END',
      "CREATE TRIGGER li_kept BEFORE DELETE ON learning_index BEGIN SELECT RAISE(ABORT, 'learnings are never deleted'); END",
      'CREATE TRIGGER li_kept_quietly BEFORE DELETE ON learning_index BEGIN SELECT RAISE(IGNORE); END',
      // RAISE(ROLLBACK) ends the whole transaction: in verify, that is only the probe's own.
      "CREATE TRIGGER li_validate_all BEFORE INSERT ON learning_index WHEN datetime(NEW.indexed_at) IS NULL BEGIN SELECT RAISE(ROLLBACK, 'indexed_at must be an ISO datetime'); END",
      "CREATE TRIGGER li_kept_all BEFORE DELETE ON learning_index BEGIN SELECT RAISE(ROLLBACK, 'learnings are never deleted'); END",
      // A trigger that renumbers or removes a new learning leaves the probe nothing to try the cascade on.
      'CREATE TRIGGER li_renumber AFTER INSERT ON learning_index BEGIN UPDATE learning_index SET id = NEW.id + 1000000 WHERE id = NEW.id; END',
      'CREATE TRIGGER li_discard AFTER INSERT ON learning_index BEGIN DELETE FROM learning_index WHERE id = NEW.id; END',
    ];
    for (const setup of setups) {
      const dbPath = sampleDb({ learnings: 20 });
      withDb(dbPath, (db) => db.exec(setup));
      up(dbPath);
      const bytes = fileSha256(dbPath);
      const verified = migrator.verify({ dbPath });
      expect(verified.error).toBeNull();
      expect(verified.status).toBe('verified');
      expect(fileSha256(dbPath)).toBe(bytes);
    }
  });

  it("fails down, rolled back, naming what remains and the trigger that kept schema_version's row", () => {
    const dbPath = sampleDb({ learnings: 20 });
    up(dbPath);
    withDb(dbPath, (db) =>
      db.exec('CREATE TRIGGER sv_kept BEFORE DELETE ON schema_version BEGIN SELECT RAISE(IGNORE); END'),
    );
    const bytes = fileSha256(dbPath);
    const result = migrator.down({ dbPath });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toContain(
      "Objects of migration 006 remain after down: schema_version's '006' row (triggers on schema_version, which may keep it: sv_kept).",
    );
    expect(fileSha256(dbPath)).toBe(bytes);
  });

  it('reports only the missing cascade when the CHECK, the NOT NULL and the foreign key itself are there', () => {
    const dbPath = sampleDb({ learnings: 20 });
    up(dbPath);
    withDb(dbPath, (db) => {
      db.pragma('foreign_keys = OFF');
      db.exec('DROP TABLE learning_applications');
      db.exec(`CREATE TABLE learning_applications (id INTEGER PRIMARY KEY AUTOINCREMENT, learning_id INTEGER NOT NULL, epic_num INTEGER,
        story_num INTEGER, outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'partial')), application_context TEXT,
        applied_at TEXT NOT NULL, metadata JSON, FOREIGN KEY (learning_id) REFERENCES learning_index(id))`);
      db.pragma('foreign_keys = ON');
      expect(migration006.probeConstraints?.(db).map((issue) => issue.kind)).toEqual([
        'cascade-not-enforced',
      ]);
      expect(migration006.probeConstraints?.(db, { thorough: false })).toEqual([]);
    });
  });

  it("leaves the cascade's try, a pass over learning_index, to verify: up's own statements made the definition it checks", () => {
    const optionsSeen: unknown[] = [];
    const watched: Migration = {
      ...migration006,
      probeConstraints(db, options) {
        optionsSeen.push(options);
        return migration006.probeConstraints?.(db, options) ?? [];
      },
    };
    const watching = new Migrator({ migrations: [watched] });
    const dbPath = sampleDb({ learnings: 20 });
    expect(watching.up({ dbPath }).status).toBe('applied');
    expect(optionsSeen).toEqual([{ thorough: false }]);
    expect(watching.verify({ dbPath }).status).toBe('verified');
    expect(optionsSeen).toEqual([{ thorough: false }, undefined]);
  });
});

describe('migration 006 preconditions', () => {
  it("refuses up with PREVIOUS_MIGRATION_MISSING when '005' is not recorded", () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) => db.exec("DELETE FROM schema_version WHERE version = '005'"));
    const bytes = fileSha256(dbPath);
    const result = migrator.up({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.PREVIOUS_MIGRATION_MISSING);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
    expect(fileSha256(dbPath)).toBe(bytes);
  });

  it('refuses up with LATER_MIGRATION_APPLIED when a newer version is recorded without 006', () => {
    const dbPath = sampleDb();
    withDb(dbPath, (db) =>
      db.exec("INSERT INTO schema_version VALUES ('007', 'now', 'later'), ('x', 'now', 'odd')"),
    );
    const result = migrator.up({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.LATER_MIGRATION_APPLIED);
    expect(result.error?.message).toContain('records migration 007, newer than 006');
  });
});
