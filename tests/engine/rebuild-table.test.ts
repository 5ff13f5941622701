import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { columnNamesOf, planTableRebuild } from '../../src/engine/rebuild-table.js';
import { schemaOf } from '../helpers/sqlite.js';

const PARENT = 'CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, extra TEXT)';
const PARENT_BEFORE = 'CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)';

function scratch(): Database.Database {
  const db = new Database(':memory:');
  db.exec(PARENT);
  db.exec(
    'CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE)',
  );
  db.exec("INSERT INTO parent (name, extra) VALUES ('a', 'x'), ('b', 'y'), ('c', 'z')");
  db.exec('INSERT INTO child (parent_id) VALUES (1), (2), (3)');
  db.exec('DELETE FROM child WHERE parent_id = 3');
  db.exec('DELETE FROM parent WHERE id = 3');
  db.exec('CREATE INDEX parent_name ON parent(name)');
  db.exec('CREATE INDEX parent_extra ON parent(extra)');
  db.exec('CREATE VIEW parent_names AS SELECT name FROM parent');
  return db;
}

function runPlan(db: Database.Database, statements: string[]): void {
  db.pragma('foreign_keys = OFF');
  db.transaction(() => {
    for (const sql of statements) db.exec(sql);
  })();
  db.pragma('foreign_keys = ON');
}

describe('planTableRebuild', () => {
  it('restores the given definition verbatim, keeps rows, other indexes, views and referencing rows', () => {
    const db = scratch();
    const plan = planTableRebuild(db, {
      table: 'parent',
      createSql: PARENT_BEFORE,
      dropObjects: ['PARENT_EXTRA'],
    });
    db.exec('DROP INDEX parent_extra');
    runPlan(db, plan);
    expect(db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'parent'").pluck().get()).toBe(
      PARENT_BEFORE,
    );
    expect(db.prepare('SELECT id, name FROM parent').all()).toEqual([
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
    ]);
    expect(db.prepare('SELECT count(*) FROM child').pluck().get()).toBe(2);
    expect(db.prepare('SELECT count(*) FROM parent_names').pluck().get()).toBe(2);
    expect(schemaOf(db).map((row) => row.name)).toEqual([
      'parent_name',
      'child',
      'parent',
      'sqlite_sequence',
      'parent_names',
    ]);
    expect(db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'parent'").pluck().get()).toBe(3);
  });

  it('restores legacy_alter_table to the value it had, on or off', () => {
    for (const before of [0, 1]) {
      const db = scratch();
      db.pragma(`legacy_alter_table = ${before}`);
      const plan = planTableRebuild(db, {
        table: 'parent',
        createSql: PARENT_BEFORE,
        dropObjects: ['parent_extra'],
      });
      expect(plan[0]).toBe('PRAGMA legacy_alter_table = ON');
      expect(plan.at(-1)).toBe(`PRAGMA legacy_alter_table = ${before ? 'ON' : 'OFF'}`);
      runPlan(db, plan);
      expect(db.pragma('legacy_alter_table', { simple: true })).toBe(before);
    }
  });

  it('carries the counter of an emptied table over, and gives a table that never held a row no counter', () => {
    const counterOf = (db: Database.Database) =>
      db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'parent'").pluck().get();
    for (const emptied of [true, false]) {
      const db = new Database(':memory:');
      db.exec(PARENT);
      if (emptied) db.exec("INSERT INTO parent (id, name) VALUES (5, 'gone'); DELETE FROM parent");
      runPlan(db, planTableRebuild(db, { table: 'parent', createSql: PARENT_BEFORE, dropObjects: [] }));
      expect(counterOf(db)).toBe(emptied ? 5 : undefined);
    }
  });

  it('leaves the counter alone for a table without AUTOINCREMENT', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE plain (id INTEGER PRIMARY KEY, v TEXT, w TEXT)');
    db.exec("INSERT INTO plain VALUES (7, 'a', 'b')");
    const plan = planTableRebuild(db, {
      table: 'plain',
      createSql: 'CREATE TABLE plain (id INTEGER PRIMARY KEY, v TEXT)',
      dropObjects: [],
    });
    expect(plan.join('\n')).not.toContain('sqlite_sequence');
    runPlan(db, plan);
    expect(db.prepare('SELECT * FROM plain').all()).toEqual([{ id: 7, v: 'a' }]);
  });

  it('reads column names with SQLite itself', () => {
    expect(columnNamesOf('CREATE TABLE t ("odd name" TEXT, [b] INT, c, CHECK (c > 0))', 't')).toEqual([
      'odd name',
      'b',
      'c',
    ]);
  });
});
