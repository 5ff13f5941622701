import type { Database } from 'better-sqlite3';
import { tableExists } from './schema.js';

/**
 * The history table keeps, inside the database, the definition a table had before a migration changed it, so
 * that `down` can restore exactly that definition. Rows go when their migration is rolled back; the table goes
 * with its last row, so up-then-down leaves the schema as it was.
 */
export const HISTORY_TABLE = 'gao_migrate_history';

export const CREATE_HISTORY_TABLE = `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (
  migration TEXT NOT NULL,
  table_name TEXT NOT NULL,
  table_sql TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (migration, table_name)
)`;

/** SQL that records the current definition of `table` for `migration` (both are the migration's own constants). */
export function recordTableDefinitionSql(migration: string, table: string): string {
  return `INSERT OR REPLACE INTO ${HISTORY_TABLE} (migration, table_name, table_sql, recorded_at) SELECT '${migration}', name, sql, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM sqlite_schema WHERE type = 'table' AND name = '${table}'`;
}

export function recordedTableDefinition(db: Database, migration: string, table: string): string | null {
  if (!tableExists(db, HISTORY_TABLE)) return null;
  const row = db
    .prepare(`SELECT table_sql FROM ${HISTORY_TABLE} WHERE migration = ? AND table_name = ?`)
    .get(migration, table) as { table_sql: string } | undefined;
  return row?.table_sql ?? null;
}

/** SQL that forgets a migration's rows, and drops the table when no other migration has rows in it. */
export function forgetMigrationSql(db: Database, migration: string): string[] {
  if (!tableExists(db, HISTORY_TABLE)) return [];
  const others = db
    .prepare(`SELECT count(*) AS n FROM ${HISTORY_TABLE} WHERE migration <> ?`)
    .get(migration) as {
    n: number;
  };
  return others.n === 0
    ? [`DROP TABLE ${HISTORY_TABLE}`]
    : [`DELETE FROM ${HISTORY_TABLE} WHERE migration = '${migration}'`];
}
