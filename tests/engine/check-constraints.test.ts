import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { checkExpressionsOf, rowsBreakingChecksOf } from '../../src/engine/check-constraints.js';

describe('checkExpressionsOf', () => {
  it('reads column and table constraints, named or not, in the order they are written', () => {
    const sql = `CREATE TABLE t (
      a INTEGER CHECK (a > 0),
      b TEXT NOT NULL check(b IN ('x', 'y')),
      c REAL CONSTRAINT c_range CHECK(c BETWEEN 0 AND (1 + 1)),
      CHECK (a < length(b) * 10)
    )`;
    expect(checkExpressionsOf(sql)).toEqual([
      'a > 0',
      "b IN ('x', 'y')",
      'c BETWEEN 0 AND (1 + 1)',
      'a < length(b) * 10',
    ]);
  });

  it('does not take the word inside strings, quoted names or comments for the keyword', () => {
    const sql = `CREATE TABLE t (
      "check" TEXT DEFAULT 'check (no)', -- check (comment)
      [check (x)] INT, /* CHECK (block) */ \`check\` INT,
      rechecked INT, d TEXT CHECK (d <> ')' AND d <> 'it''s (') /* trailing */
    )`;
    expect(checkExpressionsOf(sql)).toEqual(["d <> ')' AND d <> 'it''s ('"]);
  });

  it('allows comments between the keyword and its parenthesis, and answers nothing for an unclosed one', () => {
    expect(checkExpressionsOf('CREATE TABLE t (a INT CHECK /* why */ -- note\n (a <> 1))')).toEqual([
      'a <> 1',
    ]);
    expect(checkExpressionsOf('CREATE TABLE t (a INT CHECK (a > (1)')).toEqual([]);
    expect(checkExpressionsOf('CREATE TABLE t (a INT)')).toEqual([]);
  });
});

describe('rowsBreakingChecksOf', () => {
  function tableWithRows(rows: [number, string][]): Database.Database {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, n INT, s TEXT)');
    const insert = db.prepare('INSERT INTO t (id, n, s) VALUES (?, ?, ?)');
    for (const [id, s] of rows) insert.run(id, id, s);
    return db;
  }
  const target =
    "CREATE TABLE t (id INTEGER PRIMARY KEY, n INT CHECK (n < 100), s TEXT CHECK (s IN ('a', 'b')))";

  it('names the first constraint rows break, how many and which, as the copy into the definition would', () => {
    const db = tableWithRows([
      [1, 'a'],
      [2, 'z'],
      [3, 'b'],
      ...Array.from({ length: 6 }, (_, i): [number, string] => [10 + i, 'q']),
    ]);
    expect(rowsBreakingChecksOf(db, 't', target)).toBe(
      "CHECK constraint failed: s IN ('a', 'b'): 7 rows of t break it (rowid 2, 10, 11, 12, 13, …); correct or delete them, then run again",
    );
    db.exec('INSERT INTO t VALUES (200, 200, NULL)');
    expect(rowsBreakingChecksOf(db, 't', target)).toMatch(
      /^CHECK constraint failed: n < 100: 1 row of t breaks it \(rowid 200\);/,
    );
    // The copy itself agrees.
    db.exec(`${target.replace('TABLE t', 'TABLE copy')}`);
    expect(() => db.exec('INSERT INTO copy SELECT * FROM t')).toThrow(/CHECK constraint failed/);
  });

  it('names a rowid above 2^53 exactly', () => {
    const db = tableWithRows([]);
    db.exec("INSERT INTO t VALUES (9007199254740993, 1, 'z')");
    expect(rowsBreakingChecksOf(db, 't', target)).toContain('(rowid 9007199254740993)');
  });

  it('answers null when every row passes (NULL passes a CHECK), or when the constraints cannot be read', () => {
    const db = tableWithRows([
      [1, 'a'],
      [2, 'b'],
    ]);
    db.exec('INSERT INTO t VALUES (3, NULL, NULL)');
    expect(rowsBreakingChecksOf(db, 't', target)).toBeNull();
    expect(
      rowsBreakingChecksOf(db, 't', 'CREATE TABLE t (id INTEGER PRIMARY KEY, n INT, s TEXT)'),
    ).toBeNull();
    // An expression naming a column the table lacks cannot be evaluated here: no prediction, not a failure.
    expect(
      rowsBreakingChecksOf(db, 't', 'CREATE TABLE t (id INTEGER PRIMARY KEY, gone INT CHECK (gone > 0))'),
    ).toBeNull();
  });
});
