import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Migrator } from '../../src/engine/migrator.js';
import { databaseBytesOf } from '../../src/engine/preconditions.js';
import { measureSizes, spaceNeeded } from '../../src/engine/space-needed.js';
import { sampleDb, withDb } from '../helpers/sqlite.js';

const PAGE = 4096;
const MIB = 1024 * 1024;

describe('spaceNeeded', () => {
  it('counts for a rebuild the backup, the copy of the table, and a journal of every page written', () => {
    const needed = spaceNeeded(
      {
        databaseBytes: 1000 * PAGE,
        pageSize: PAGE,
        rebuiltTableBytes: 400 * PAGE,
        rebuiltIndexBytes: 100 * PAGE,
        schemaBytes: 2 * PAGE,
      },
      MIB,
    );
    // Pages written: the copy 400, its indexes 100, sqlite_schema 2, one freelist trunk (1000 pages / 1022 a
    // trunk), 64 of bookkeeping = 567, each with a 24-byte frame header, plus a page of journal header.
    expect(needed).toEqual({
      backup: 4_096_000,
      growth: 1_638_400,
      journal: 567 * (PAGE + 24) + PAGE,
      reserve: MIB,
      total: 4_096_000 + 1_638_400 + 567 * (PAGE + 24) + PAGE + MIB,
    });
  });

  it("keeps up's allowance, a tenth of the database, where nothing is rebuilt", () => {
    const sizes = { databaseBytes: 1000 * PAGE, pageSize: PAGE, rebuiltIndexBytes: 0, schemaBytes: PAGE };
    expect(spaceNeeded({ ...sizes, rebuiltTableBytes: 0 }, MIB)).toEqual({
      backup: 4_096_000,
      growth: 409_600,
      journal: 0,
      reserve: MIB,
      total: 4_096_000 + 409_600 + MIB,
    });
  });
});

describe('measureSizes', () => {
  it("reads the rebuilt table's pages and its indexes' apart, as SQLite's dbstat counts them", () => {
    const dbPath = sampleDb();
    expect(new Migrator().up({ dbPath }).status).toBe('applied');
    withDb(dbPath, (db: Database.Database) => {
      const bytesOf = (name: string) =>
        (db.prepare("SELECT pgsize FROM dbstat('main', 1) WHERE name = ?").get(name) as { pgsize: number })
          .pgsize;
      const indexes = (
        db
          .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'learning_index'")
          .all() as { name: string }[]
      ).map((row) => row.name);
      const sizes = measureSizes(db, databaseBytesOf(dbPath), ['learning_index']);
      expect(indexes.length).toBeGreaterThan(2);
      expect(sizes).toEqual({
        databaseBytes: databaseBytesOf(dbPath),
        pageSize: PAGE,
        rebuiltTableBytes: bytesOf('learning_index'),
        rebuiltIndexBytes: indexes.reduce((sum, name) => sum + bytesOf(name), 0),
        schemaBytes: bytesOf('sqlite_schema'),
      });
      expect(sizes.rebuiltTableBytes).toBeGreaterThan(0);
      expect(measureSizes(db, 0, []).rebuiltTableBytes).toBe(0);
    });
  });
});
