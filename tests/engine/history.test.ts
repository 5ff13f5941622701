import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, MigrationError } from '../../src/engine/errors.js';
import { CREATE_HISTORY_TABLE, HISTORY_TABLE, recordedTableDefinition } from '../../src/engine/history.js';

let db: Database.Database;
beforeEach(() => {
  db = new Database(':memory:');
});
afterEach(() => db.close());

/** Records `sql` as learning_index's definition before 006, as an edited or damaged row would hold it. */
function record(sql: unknown): void {
  db.exec(CREATE_HISTORY_TABLE);
  db.prepare(
    `INSERT INTO ${HISTORY_TABLE} (migration, table_name, table_sql, recorded_at) VALUES ('006', 'learning_index', ?, 'now')`,
  ).run(sql);
}

function refusal(): MigrationError {
  try {
    recordedTableDefinition(db, '006', 'learning_index');
  } catch (error) {
    if (error instanceof MigrationError) return error;
    throw error;
  }
  throw new Error('the recorded definition was accepted');
}

describe('recordedTableDefinition', () => {
  it('answers null without a history table, and without a row for the table', () => {
    expect(recordedTableDefinition(db, '006', 'learning_index')).toBeNull();
    db.exec(CREATE_HISTORY_TABLE);
    expect(recordedTableDefinition(db, '006', 'learning_index')).toBeNull();
  });

  it.each([
    'CREATE TABLE learning_index (id INTEGER PRIMARY KEY)',
    'CREATE TABLE "learning_index"(id INTEGER PRIMARY KEY)',
    'CREATE TABLE [learning_index] (id INTEGER PRIMARY KEY)',
    'CREATE TABLE `learning_index` (id INTEGER PRIMARY KEY)',
    "CREATE TABLE 'learning_index' (id INTEGER PRIMARY KEY)",
    'create table LEARNING_INDEX (id INTEGER PRIMARY KEY)',
  ])('gives back one CREATE TABLE of the table as recorded: %s', (sql) => {
    record(sql);
    expect(recordedTableDefinition(db, '006', 'learning_index')).toBe(sql);
  });

  it.each([
    ['a second statement', "CREATE TABLE learning_index (id INTEGER); ATTACH '/tmp/x.db' AS x"],
    ['another table', 'CREATE TABLE learning_other (id INTEGER)'],
    ['a view', 'CREATE VIEW learning_index AS SELECT 1'],
    ['SQL SQLite cannot compile', 'CREATE TABLE learning_index (id INTEGER'],
    ['a BLOB instead of text', Buffer.from('CREATE TABLE learning_index (id INTEGER)')],
  ])('refuses %s with SCHEMA_DRIFT, running nothing', (_name, sql) => {
    record(sql);
    const error = refusal();
    expect(error.code).toBe(ErrorCode.SCHEMA_DRIFT);
    expect(error.message).toBe(
      `The definition of learning_index that ${HISTORY_TABLE} recorded before migration 006 is not one CREATE TABLE statement of learning_index, so it cannot be rebuilt from it; restore the backup taken before 006, or correct that row`,
    );
    expect(db.prepare("SELECT name FROM pragma_database_list WHERE name = 'x'").get()).toBeUndefined();
  });
});
