import SqliteDatabase, { type Database } from 'better-sqlite3';
import { ErrorCode, MigrationError } from './errors.js';
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

/**
 * The definition recorded for `table` before `migration`, or null. It is run as SQL (on a scratch database, then in
 * the rebuild), so a row that is anything but one `CREATE TABLE` of that table (edited, or damaged) is refused with
 * SCHEMA_DRIFT before anything runs it: `…; ATTACH '/elsewhere.db' AS x; …` would create or change files wherever
 * the process may write.
 */
export function recordedTableDefinition(db: Database, migration: string, table: string): string | null {
  if (!tableExists(db, HISTORY_TABLE)) return null;
  const row = db
    .prepare(`SELECT table_sql FROM ${HISTORY_TABLE} WHERE migration = ? AND table_name = ?`)
    .get(migration, table) as { table_sql: unknown } | undefined;
  if (row === undefined) return null;
  if (!isOneCreateTable(row.table_sql, table)) {
    throw new MigrationError(
      ErrorCode.SCHEMA_DRIFT,
      `The definition of ${table} that ${HISTORY_TABLE} recorded before migration ${migration} is not one CREATE TABLE statement of ${table}, so it cannot be rebuilt from it; restore the backup taken before ${migration}, or correct that row`,
    );
  }
  return row.table_sql;
}

/** Whether `sql` is a single statement (compiled, never run) that creates `table`, as sqlite_schema keeps one. */
function isOneCreateTable(sql: unknown, table: string): sql is string {
  if (typeof sql !== 'string') return false;
  const name =
    /^CREATE TABLE\s+(?:"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|'((?:[^']|'')+)'|([\w$]+))\s*\(/i.exec(sql);
  const named =
    name?.[1]?.replaceAll('""', '"') ??
    name?.[2] ??
    name?.[3] ??
    name?.[4]?.replaceAll("''", "'") ??
    name?.[5];
  if (named?.toLowerCase() !== table.toLowerCase()) return false;
  const scratch = new SqliteDatabase(':memory:');
  try {
    scratch.prepare(sql); // throws on a second statement
    return true;
  } catch {
    return false;
  } finally {
    scratch.close();
  }
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
