import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { contentHash, sampleDb, tableHashes, tempDir } from '../helpers/sqlite.js';

describe('job data never becomes SQL', () => {
  it('migrates a database whose path is full of quotes and SQL as a plain path, every table intact', () => {
    const dir = path.join(tempDir(), `x'; DROP TABLE learning_index;-- "q"`);
    fs.mkdirSync(dir);
    const dbPath = path.join(dir, `006'; DROP TABLE learning_index;--.db`);
    fs.copyFileSync(sampleDb(), dbPath);
    const before = tableHashes(dbPath);
    const result = new Migrator().up({ dbPath });
    expect(result.status).toBe('applied');
    const after = tableHashes(dbPath);
    for (const table of Object.keys(before)) expect(after[table], table).toBeDefined();
    expect(after.epic_state).toBe(before.epic_state);
    expect(after.documents).toBe(before.documents);
    expect(result.backupPath && contentHash(result.backupPath)).toBe(contentHash(sampleDb()));
  });
});

describe('user triggers that RAISE(ABORT) on learning_index', () => {
  it('do not fire during the down rebuild, and are kept by it', () => {
    const dbPath = sampleDb();
    expect(new Migrator().up({ dbPath }).status).toBe('applied');
    const db = new Database(dbPath);
    db.exec(`
      CREATE TRIGGER guard_delete BEFORE DELETE ON learning_index BEGIN SELECT RAISE(ABORT, 'never delete'); END;
      CREATE TRIGGER guard_insert BEFORE INSERT ON learning_index BEGIN SELECT RAISE(ABORT, 'never insert'); END;
    `);
    const learnings = db.prepare('SELECT count(*) FROM learning_index').pluck().get();
    db.close();
    // The rebuild renames learning_index and copies it with INSERT ... SELECT into a new table: neither
    // trigger is on the table being written, so neither fires; both are re-created on the rebuilt table.
    const result = new Migrator().down({ dbPath });
    expect(result.error).toBeNull();
    expect(result.status).toBe('rolled-back');
    const after = new Database(dbPath, { readonly: true });
    expect(after.prepare('SELECT count(*) FROM learning_index').pluck().get()).toBe(learnings);
    expect(
      after
        .prepare(
          "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'learning_index' ORDER BY name",
        )
        .pluck()
        .all(),
    ).toEqual(['guard_delete', 'guard_insert']);
    expect(() => after.prepare('SELECT 1').get()).not.toThrow();
    after.close();
    const writable = new Database(dbPath);
    expect(() => writable.prepare('DELETE FROM learning_index WHERE id = 1').run()).toThrow('never delete');
    writable.close();
  });
});
