import type { Database } from 'better-sqlite3';
import { assertFreeSpace, formatBytes } from './preconditions.js';

/** What a change writes beside the database, in bytes, part by part. */
export interface SpaceNeeded {
  /** The checked backup: the database and its WAL, copied. */
  backup: number;
  /** Growth of the database file itself. */
  growth: number;
  /** The rollback journal, or the WAL, that the change's transaction writes. */
  journal: number;
  /** Kept free on top (`reserveBytes`). */
  reserve: number;
  total: number;
}

/** Sizes read from the database under the change's write lock. */
export interface DatabaseSizes {
  /** The database file and its WAL (what the backup copies). */
  databaseBytes: number;
  pageSize: number;
  /** The tables a plan rebuilds (SQLite's dbstat). 0 for a plan that rebuilds none. */
  rebuiltTableBytes: number;
  /** All the indexes of those tables. */
  rebuiltIndexBytes: number;
  /** sqlite_schema's own pages. */
  schemaBytes: number;
}

/** Page 1, the rows a change writes in schema_version, sqlite_sequence and the history table, and spare. */
const BOOKKEEPING_PAGES = 64;
/** A WAL frame's header (a rollback journal's record adds 8 bytes to each page: less). */
const FRAME_HEADER_BYTES = 24;

/**
 * The room a change needs beside the database, an upper bound. Every change first writes its backup (the database
 * and its WAL). A change without a table rebuild (`up`: columns, an empty table, indexes) adds a tenth of the
 * database (its allowance since the first release; not measured). A rebuild (`down`) copies the table while the
 * old one still exists, so the file grows by at most the table's size; the indexes come back only after the old
 * table and its indexes are dropped, into the pages those free. And its transaction writes a journal of every
 * page it writes, each once (SQLite's rollback journal keeps the original of each that existed before; its WAL
 * each page written, and the file grows by the copy when the WAL is checkpointed): the copy and its indexes,
 * sqlite_schema, a freelist trunk page per `pageSize / 4 - 2` pages freed (at most the whole database) and a few
 * pages of bookkeeping, each with a frame header, plus one page for the journal's header.
 */
export function spaceNeeded(sizes: DatabaseSizes, reserveBytes: number): SpaceNeeded {
  const { databaseBytes, pageSize, rebuiltTableBytes, rebuiltIndexBytes, schemaBytes } = sizes;
  const backup = databaseBytes;
  if (rebuiltTableBytes === 0) {
    const growth = Math.ceil(databaseBytes / 10);
    return { backup, growth, journal: 0, reserve: reserveBytes, total: backup + growth + reserveBytes };
  }
  const pagesOf = (bytes: number) => Math.ceil(bytes / pageSize);
  const trunkPages = Math.ceil(pagesOf(databaseBytes) / (pageSize / 4 - 2));
  const pagesWritten =
    pagesOf(rebuiltTableBytes) +
    pagesOf(rebuiltIndexBytes) +
    pagesOf(schemaBytes) +
    trunkPages +
    BOOKKEEPING_PAGES;
  const journal = pagesWritten * (pageSize + FRAME_HEADER_BYTES) + pageSize;
  const growth = rebuiltTableBytes;
  return { backup, growth, journal, reserve: reserveBytes, total: backup + growth + journal + reserveBytes };
}

/**
 * The sizes `spaceNeeded` takes, read under the change's lock (after a WAL database's checkpoint), or a dry run's
 * read transaction: dbstat reads pages and writes none, so a read-only connection answers it too.
 */
export function measureSizes(
  db: Database,
  databaseBytes: number,
  rebuiltTables: readonly string[],
): DatabaseSizes {
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  // A plan without a rebuild (`up`) is allowed a tenth of the database: nothing to read, on every job's path.
  if (rebuiltTables.length === 0) {
    return { databaseBytes, pageSize, rebuiltTableBytes: 0, rebuiltIndexBytes: 0, schemaBytes: 0 };
  }
  const bytesOf = (where: string, ...names: string[]): number =>
    Number(
      (
        db
          .prepare(`SELECT coalesce(sum(pgsize), 0) AS bytes FROM dbstat('main', 1) WHERE ${where}`)
          .get(...names) as { bytes: number }
      ).bytes,
    );
  let rebuiltTableBytes = 0;
  let rebuiltIndexBytes = 0;
  for (const table of rebuiltTables) {
    rebuiltTableBytes += bytesOf('name = ?', table);
    rebuiltIndexBytes += bytesOf(
      "name IN (SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?)",
      table,
    );
  }
  const schemaBytes = bytesOf("name = 'sqlite_schema'");
  return { databaseBytes, pageSize, rebuiltTableBytes, rebuiltIndexBytes, schemaBytes };
}

/**
 * Refuses the change (`INSUFFICIENT_DISK_SPACE`) unless what it writes beside the database fits. A dry run is
 * refused with the same sentence, which then says that it was one: the real run would be refused.
 */
export function assertSpaceForChange(
  dbPath: string,
  needed: SpaceNeeded,
  rebuiltTables: readonly string[],
  options: { dryRun?: boolean } = {},
): void {
  const parts = [`the backup (${formatBytes(needed.backup)})`];
  if (needed.journal > 0) {
    parts.push(
      `the rebuilt ${rebuiltTables.join(', ')} (${formatBytes(needed.growth)})`,
      `SQLite's journal (${formatBytes(needed.journal)})`,
    );
  } else {
    parts.push(`the migration (${formatBytes(needed.growth)})`);
  }
  parts.push(`a reserve (${formatBytes(needed.reserve)})`);
  const purpose = `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
  const outcome = options.dryRun
    ? 'nothing was changed (this was a dry run; the real run would be refused)'
    : 'nothing was changed';
  assertFreeSpace(dbPath, needed.total, purpose, outcome);
}
