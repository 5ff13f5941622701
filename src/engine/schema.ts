import type { Database } from 'better-sqlite3';
import { referencedNames } from './sql-names.js';

/** Schema introspection helpers shared by the engine and migrations. Names are bound as parameters, never spliced. */

export interface ColumnInfo {
  cid: number;
  name: string;
  type: string;
  notnull: number;
  dflt_value: string | null;
  pk: number;
}

export interface ForeignKeyInfo {
  id: number;
  seq: number;
  table: string;
  from: string;
  to: string | null;
  on_update: string;
  on_delete: string;
}

export interface SchemaObject {
  type: 'table' | 'index' | 'view' | 'trigger';
  name: string;
  tbl_name: string;
  sql: string | null;
}

export function tableExists(db: Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** The kind of schema object (`table`, `view`, `index`, `trigger`) that bears `name`, or null. */
export function schemaTypeOf(db: Database, name: string): string | null {
  const row = db.prepare('SELECT type FROM sqlite_schema WHERE name = ?').get(name) as
    | { type: string }
    | undefined;
  return row?.type ?? null;
}

export function objectExists(db: Database, type: SchemaObject['type'], name: string): boolean {
  return db.prepare('SELECT 1 FROM sqlite_schema WHERE type = ? AND name = ?').get(type, name) !== undefined;
}

export function tableSql(db: Database, name: string): string | null {
  const row = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) as
    | { sql: string | null }
    | undefined;
  return row?.sql ?? null;
}

export function columnsOf(db: Database, table: string): ColumnInfo[] {
  return db.prepare('SELECT * FROM pragma_table_info(?)').all(table) as ColumnInfo[];
}

export function foreignKeysOf(db: Database, table: string): ForeignKeyInfo[] {
  return db.prepare('SELECT * FROM pragma_foreign_key_list(?)').all(table) as ForeignKeyInfo[];
}

/** Columns of an index, in order, with their sort direction and collation. */
export function indexColumns(
  db: Database,
  index: string,
): { name: string | null; desc: boolean; collation: string }[] {
  const rows = db
    .prepare('SELECT name, desc, coll, key FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno')
    .all(index) as {
    name: string | null;
    desc: number;
    coll: string;
  }[];
  return rows.map((row) => ({ name: row.name, desc: row.desc === 1, collation: row.coll }));
}

/** Whether an index of `table` is UNIQUE and whether it is partial (has a WHERE clause). */
export function indexKind(db: Database, table: string, index: string): { unique: boolean; partial: boolean } {
  const row = db
    .prepare('SELECT "unique", partial FROM pragma_index_list(?) WHERE name = ?')
    .get(table, index) as { unique: number; partial: number } | undefined;
  return { unique: row?.unique === 1, partial: row?.partial === 1 };
}

/**
 * Indexes and triggers that belong to a table, with the SQL that created them (auto-indexes excluded). A trigger's
 * tbl_name is its table as the trigger's SQL spells it (`ON Learning_Index`): compared as SQLite compares names.
 */
export function objectsOnTable(db: Database, table: string): SchemaObject[] {
  return db
    .prepare(
      "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE tbl_name = ? COLLATE NOCASE AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY rowid",
    )
    .all(table) as SchemaObject[];
}

/**
 * Every view, trigger or index whose SQL names one of the words (case-insensitive), as an identifier or a string,
 * leaving out comments and aliases (see referencedNames).
 */
export function objectsMentioning(db: Database, words: readonly string[]): SchemaObject[] {
  const all = db
    .prepare(
      "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger', 'index') AND sql IS NOT NULL",
    )
    .all() as SchemaObject[];
  const wanted = words.map((word) => word.toLowerCase());
  return all.filter((object) => {
    const names = referencedNames(object.sql ?? '');
    return wanted.some((word) => names.has(word));
  });
}

/** Tables whose foreign keys reference `parent`. */
export function tablesReferencing(db: Database, parent: string): string[] {
  const tables = db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .all() as {
    name: string;
  }[];
  return tables
    .map((table) => table.name)
    .filter((name) => foreignKeysOf(db, name).some((fk) => fk.table.toLowerCase() === parent.toLowerCase()));
}

/** Foreign-key violations of the given tables (as children), as comparable strings. */
export function foreignKeyViolations(db: Database, tables: readonly string[]): string[] {
  const violations: string[] = [];
  for (const table of new Set(tables)) {
    if (!tableExists(db, table)) continue;
    // Safe integers: a rowid above 2^53 is named exactly.
    const rows = db.prepare('SELECT * FROM pragma_foreign_key_check(?)').safeIntegers(true).all(table) as {
      table: string;
      rowid: bigint | null;
      parent: string;
      fkid: bigint;
    }[];
    for (const row of rows) violations.push(`${row.table}#${row.rowid}->${row.parent}[${row.fkid}]`);
  }
  return violations;
}

/** Quotes an identifier for SQL (only for names read from the database itself). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
