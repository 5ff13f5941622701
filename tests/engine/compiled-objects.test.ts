import { describe, expect, it } from 'vitest';
import { compileProblems, newCompileProblems } from '../../src/engine/compiled-objects.js';
import { ErrorCode } from '../../src/engine/errors.js';
import { Migrator } from '../../src/engine/migrator.js';
import { contentHash, fileSha256, filesBeside, sampleDb, withDb } from '../helpers/sqlite.js';

const migrator = new Migrator({ busyTimeoutMs: 200 });

/** A table holding learning_index's rows as they are now, column for column, and a trigger that fills it. */
const ARCHIVE_ON_DELETE = `
  CREATE TABLE li_archive AS SELECT * FROM learning_index WHERE 0;
  CREATE TRIGGER li_archive_on_delete BEFORE DELETE ON learning_index
  BEGIN INSERT INTO li_archive SELECT * FROM learning_index WHERE id = OLD.id; END;`;

describe('compileProblems', () => {
  it("finds the triggers and views a change of columns breaks, and none of the baseline's own", () => {
    const dbPath = sampleDb({ learnings: 5 });
    withDb(dbPath, (db) => {
      expect([...compileProblems(db)]).toEqual([]);
      db.exec(ARCHIVE_ON_DELETE);
      db.exec(
        'CREATE VIEW learnings_as_named (a, b, c, d, e, f, g, h, i, j, k, l, m, n) AS SELECT * FROM learning_index',
      );
      const before = compileProblems(db);
      expect([...before]).toEqual([]);
      db.exec('ALTER TABLE learning_index ADD COLUMN extra INTEGER');
      const broken = newCompileProblems(before, compileProblems(db));
      expect(broken.map(([what, problem]) => [what, problem.objects])).toEqual([
        ['read of view learnings_as_named', ['learnings_as_named']],
        ['delete from learning_index', ['li_archive_on_delete']],
      ]);
      expect(broken[1]?.[1].message).toBe('table li_archive has 14 columns but 15 values were supplied');
    });
  });

  it('leaves alone what did not compile before either (a function only the application defines)', () => {
    const dbPath = sampleDb({ learnings: 5 });
    withDb(dbPath, (db) => {
      db.exec(
        'CREATE TRIGGER li_slug AFTER INSERT ON learning_index BEGIN UPDATE learning_index SET context = slugify(NEW.topic) WHERE id = NEW.id; END',
      );
      const before = compileProblems(db);
      expect([...before.keys()]).toEqual(['insert into learning_index']);
      db.exec('ALTER TABLE learning_index ADD COLUMN extra INTEGER');
      expect(newCompileProblems(before, compileProblems(db))).toEqual([]);
    });
  });
});

describe('a change that would break a trigger or view of the user', () => {
  it('refuses up (DEPENDENT_OBJECTS), its dry run too, naming the trigger, before any backup, changing nothing', () => {
    const dbPath = sampleDb({ learnings: 20 });
    withDb(dbPath, (db) => db.exec(ARCHIVE_ON_DELETE));
    const bytes = fileSha256(dbPath);
    for (const dryRun of [true, false]) {
      const result = migrator.up({ dbPath, dryRun });
      expect(result.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
      expect(result.error?.message).toContain(
        'The up would break what worked before it: delete from learning_index, which fires trigger li_archive_on_delete, would fail (table li_archive has 14 columns but 18 values were supplied); where it copies rows by position (SELECT *, VALUES without column names), name the columns (or drop it), then run again',
      );
      expect(result.backupPath).toBeNull();
      expect(fileSha256(dbPath)).toBe(bytes);
      expect(filesBeside(dbPath)).toEqual(['documents.db']);
    }
    // Deleting a learning still works, as before the attempt.
    withDb(dbPath, (db) =>
      expect(db.prepare('DELETE FROM learning_index WHERE id = 1').run().changes).toBe(1),
    );
  });

  it('finds, in a dry run, a trigger on another table that copies a view over learning_index', () => {
    const dbPath = sampleDb({ learnings: 20 });
    withDb(dbPath, (db) =>
      db.exec(`CREATE VIEW every_learning AS SELECT * FROM learning_index;
        CREATE TABLE kept_learnings AS SELECT * FROM every_learning WHERE 0;
        CREATE TRIGGER keep_on_document_delete AFTER DELETE ON documents
        BEGIN INSERT INTO kept_learnings SELECT * FROM every_learning WHERE id = OLD.id; END;`),
    );
    const result = migrator.up({ dbPath, dryRun: true });
    expect(result.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
    expect(result.error?.message).toContain(
      'delete from documents, which fires triggers documents_fts_delete, keep_on_document_delete, would fail (table kept_learnings has 14 columns but 18 values were supplied); where one of these copies rows by position',
    );
  });

  it('refuses down where a trigger made after up copies every column of learning_index', () => {
    const dbPath = sampleDb({ learnings: 20 });
    expect(migrator.up({ dbPath }).status).toBe('applied');
    withDb(dbPath, (db) => db.exec(ARCHIVE_ON_DELETE));
    const content = contentHash(dbPath);
    const dryRun = migrator.down({ dbPath, dryRun: true });
    expect(dryRun.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
    const result = migrator.down({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
    expect(result.backupPath).toBeNull();
    expect(result.error?.message).toContain('table li_archive has 18 columns but 14 values were supplied');
    expect(contentHash(dbPath)).toBe(content);
  });

  it('applies and rolls back where the user names the columns', () => {
    const dbPath = sampleDb({ learnings: 20 });
    withDb(dbPath, (db) =>
      db.exec(`CREATE TABLE li_archive (id INTEGER, topic TEXT);
        CREATE TRIGGER li_archive_on_delete BEFORE DELETE ON learning_index
        BEGIN INSERT INTO li_archive (id, topic) VALUES (OLD.id, OLD.topic); END;`),
    );
    const content = contentHash(dbPath);
    expect(migrator.up({ dbPath }).status).toBe('applied');
    expect(migrator.down({ dbPath }).status).toBe('rolled-back');
    expect(contentHash(dbPath)).toBe(content);
  });
});
