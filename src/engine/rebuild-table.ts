import Database, { type Database as DatabaseHandle } from 'better-sqlite3';
import { ErrorCode, MigrationError } from './errors.js';
import { objectsOnTable, quoteIdentifier, type SchemaObject, tableExists } from './schema.js';

/** The name a rebuilt table has while its rows are copied: `_gao_migrate_old_<table>`. */
export const OLD_TABLE_PREFIX = '_gao_migrate_old_';

export interface RebuildOptions {
  table: string;
  /** The exact `CREATE TABLE` statement the table gets back. */
  createSql: string;
  /** Indexes and triggers on the table that must not come back (dropped by the plan before the rebuild). */
  dropObjects: readonly string[];
}

/**
 * Plans SQLite's table-rebuild procedure (https://www.sqlite.org/lang_altertable.html#otheralter) for a table
 * whose new definition is given verbatim. The caller runs it inside one transaction with foreign keys off.
 *
 * The old table is renamed away under `legacy_alter_table=ON`, so that SQLite rewrites neither the foreign keys
 * of other tables nor views and triggers elsewhere: they keep naming the table, which exists again under its own
 * name when the plan ends. This keeps the `CREATE TABLE` text byte-for-byte (renaming a new table into place
 * would rewrite its name as `"name"`). Rows are copied with their rowids; the AUTOINCREMENT counter is carried
 * over; the table's own indexes and triggers are recreated from their original SQL after the copy, so no
 * trigger fires for the copied rows.
 */
export function planTableRebuild(db: DatabaseHandle, options: RebuildOptions): string[] {
  const { table, createSql } = options;
  const oldName = `${OLD_TABLE_PREFIX}${table}`;
  const columns = columnNamesOf(createSql, table)
    .map((name) => quoteIdentifier(name))
    .join(', ');
  const dropped = new Set(options.dropObjects.map((name) => name.toLowerCase()));
  const keptObjects = objectsOnTable(db, table).filter((object) => !dropped.has(object.name.toLowerCase()));
  assertIndexesCanBeRecreated(createSql, table, keptObjects);
  const legacyBefore = Number(db.pragma('legacy_alter_table', { simple: true })) === 1 ? 'ON' : 'OFF';
  const statements = [
    'PRAGMA legacy_alter_table = ON',
    `ALTER TABLE ${quoteIdentifier(table)} RENAME TO ${quoteIdentifier(oldName)}`,
    createSql,
    `INSERT INTO ${quoteIdentifier(table)} (${columns}) SELECT ${columns} FROM ${quoteIdentifier(oldName)}`,
  ];
  if (tableExists(db, 'sqlite_sequence') && /\bAUTOINCREMENT\b/i.test(createSql)) {
    // The copy gives the new table a counter at its highest id (0 when it copied no row); the old counter may be
    // higher (rows deleted at the top). A table that never had a counter (never held a row) is left without one.
    statements.push(
      `INSERT INTO sqlite_sequence (name, seq) SELECT '${table}', seq FROM sqlite_sequence WHERE name = '${oldName}' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '${table}')`,
      `UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = '${oldName}'), 0)) WHERE name = '${table}'`,
      `DELETE FROM sqlite_sequence WHERE name = '${table}' AND seq = 0 AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '${oldName}')`,
    );
  }
  statements.push(`DROP TABLE ${quoteIdentifier(oldName)}`);
  for (const object of keptObjects) if (object.sql) statements.push(object.sql);
  statements.push(`PRAGMA legacy_alter_table = ${legacyBefore}`);
  return statements;
}

/**
 * The rebuild recreates the table's indexes from their SQL. One that uses a function or collation of the user's
 * application (registered on its connections, absent here) cannot be: refuse while planning, so that a dry run
 * says what the real run would meet, before anything is written. Tried on an empty scratch copy of the table.
 */
function assertIndexesCanBeRecreated(
  createSql: string,
  table: string,
  objects: readonly SchemaObject[],
): void {
  const indexes = objects.filter((object) => object.type === 'index' && object.sql);
  if (indexes.length === 0) return;
  withScratchTable(createSql, (scratch) => {
    for (const index of indexes) {
      try {
        scratch.exec(index.sql as string);
      } catch (error) {
        throw new MigrationError(
          ErrorCode.MIGRATION_FAILED,
          `Cannot rebuild ${table}: index ${index.name} needs what SQLite does not have here (${(error as Error).message}), likely a function or collation your application defines; drop the index, run again, then create it again from your application`,
        );
      }
    }
  });
}

/** Column names a `CREATE TABLE` statement defines, read by SQLite itself from a scratch in-memory database. */
export function columnNamesOf(createSql: string, table: string): string[] {
  return withScratchTable(createSql, (scratch) =>
    (scratch.prepare('SELECT name FROM pragma_table_info(?)').all(table) as { name: string }[]).map(
      (row) => row.name,
    ),
  );
}

/** Runs `read` on a scratch in-memory database holding nothing but the table `createSql` defines. */
export function withScratchTable<T>(createSql: string, read: (scratch: DatabaseHandle) => T): T {
  const scratch = new Database(':memory:');
  try {
    scratch.pragma('foreign_keys = OFF');
    scratch.exec(createSql);
    return read(scratch);
  } finally {
    scratch.close();
  }
}
