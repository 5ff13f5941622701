import { describe, expect, it } from 'vitest';
import { compileProblems } from '../../src/engine/compiled-objects.js';
import { ErrorCode } from '../../src/engine/errors.js';
import { Migrator } from '../../src/engine/migrator.js';
import { countRows, verifyChange, verifyDatabase } from '../../src/engine/verification.js';
import { migration006 } from '../../src/migrations/index.js';
import { sampleDb, withDb } from '../helpers/sqlite.js';

const quiet = { learnings: 20, epics: 2, documents: 3 };

describe('verifyDatabase', () => {
  it('passes an applied database and says nothing is wrong', () => {
    const dbPath = sampleDb(quiet);
    expect(new Migrator().up({ dbPath }).ok).toBe(true);
    const { verification, error } = withDb(dbPath, (db) => verifyDatabase(db, migration006, dbPath, false));
    expect(error).toBeNull();
    expect(verification).toMatchObject({ ok: true, state: 'applied', issues: [], integrity: 'ok' });
  });

  it('answers NOT_APPLIED for a database at 005, and VERIFY_DRIFT naming what is missing after a hand edit', () => {
    const dbPath = sampleDb(quiet);
    const before = withDb(dbPath, (db) => verifyDatabase(db, migration006, dbPath, false));
    expect(before.verification.state).toBe('not-applied');
    expect(before.error?.code).toBe(ErrorCode.NOT_APPLIED);

    new Migrator().up({ dbPath });
    const drifted = withDb(dbPath, (db) => {
      db.exec('DROP INDEX idx_learning_applications_learning_id');
      return verifyDatabase(db, migration006, dbPath, true);
    });
    expect(drifted.verification.ok).toBe(false);
    expect(drifted.error?.code).toBe(ErrorCode.VERIFY_DRIFT);
    expect(drifted.error?.message).toContain('idx_learning_applications_learning_id');
  });
});

describe('verifyChange', () => {
  /** Runs 006 up's statements in a transaction, lets `tamper` act, verifies, and rolls back. */
  function verifyUp(dbPath: string, tamper: (db: import('better-sqlite3').Database) => void) {
    return withDb(dbPath, (db) => {
      db.exec('BEGIN IMMEDIATE');
      try {
        const plan = migration006.planUp(db);
        const rowsBefore = countRows(db, plan.rowCountTables ?? []);
        const compiledBefore = compileProblems(db);
        for (const sql of plan.statements) db.exec(sql);
        tamper(db);
        return verifyChange(db, migration006, 'up', plan, {
          rowsBefore,
          compiledBefore,
          backupPath: null,
          busyTimeoutMs: 0,
        });
      } finally {
        db.exec('ROLLBACK');
      }
    });
  }

  it('passes the change as planned', () => {
    const { verification, error } = verifyUp(sampleDb(quiet), () => {});
    expect(error).toBeNull();
    expect(verification).toMatchObject({ ok: true, state: 'applied', foreignKeyViolations: 0 });
  });

  it('fails a change that broke a trigger which compiled before it, naming it (DEPENDENT_OBJECTS)', () => {
    const dbPath = sampleDb(quiet);
    withDb(dbPath, (db) =>
      db.exec(`CREATE TABLE li_archive AS SELECT * FROM learning_index WHERE 0;
        CREATE TRIGGER li_archive_on_delete BEFORE DELETE ON learning_index
        BEGIN INSERT INTO li_archive SELECT * FROM learning_index WHERE id = OLD.id; END;`),
    );
    const { verification, error } = verifyUp(dbPath, () => {});
    expect(error?.code).toBe(ErrorCode.DEPENDENT_OBJECTS);
    expect(error?.message).toContain('delete from learning_index, which fires trigger li_archive_on_delete');
    expect(verification.issues.map((issue) => issue.kind)).toContain('breaks-object');
  });

  it('fails a change that lost rows of a table it promises to keep whole, with both counts', () => {
    const dbPath = sampleDb(quiet);
    const [learnings = 0] = withDb(dbPath, (db) => countRows(db, ['learning_index']));
    const { error } = verifyUp(dbPath, (db) => db.exec('DELETE FROM learning_index WHERE rowid = 1'));
    expect(error?.code).toBe(ErrorCode.VERIFY_FAILED);
    expect(error?.message).toContain(`learning_index has ${learnings - 1} rows, ${learnings} before`);
  });

  it('fails a change whose schema is not what the migration defines', () => {
    const { verification, error } = verifyUp(sampleDb(quiet), (db) =>
      db.exec('DROP INDEX idx_learning_applications_learning_id'),
    );
    expect(verification.ok).toBe(false);
    expect(error?.code).toBe(ErrorCode.VERIFY_FAILED);
    expect(error?.message).toContain('idx_learning_applications_learning_id');
  });
});
