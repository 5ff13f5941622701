import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import Database, { type Database as DatabaseHandle } from 'better-sqlite3';
import { afterAll, afterEach } from 'vitest';
import { createSampleDatabase, type SampleDatabaseOptions } from '../../src/sample/create-sample-database.js';

const made: string[] = [];
const madeForFile: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

afterAll(() => {
  for (const dir of madeForFile.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * A fresh directory under the OS temp dir, removed after the test; with `forFile`, removed after the test
 * file instead (for templates made in beforeAll). Call it from a test or a hook, never while the file is
 * collected: when every test is filtered out (`vitest -t`), no afterEach or afterAll runs to remove it.
 */
export function tempDir(options: { forFile?: boolean } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-test-'));
  (options.forFile ? madeForFile : made).push(dir);
  return dir;
}

/** A sample gao-dev database at schema 005 in a fresh temp dir (`documents.db`). Small by default. */
export function sampleDb(options: SampleDatabaseOptions & { forFile?: boolean } = {}): string {
  const dbPath = path.join(tempDir({ forFile: options.forFile }), 'documents.db');
  createSampleDatabase(dbPath, { learnings: 300, epics: 6, documents: 20, ...options });
  return dbPath;
}

/** Runs `fn` with a connection to the database and closes it afterwards. */
export function withDb<T>(dbPath: string, fn: (db: DatabaseHandle) => T, readonly = false): T {
  const db = new Database(dbPath, { readonly, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of the file's bytes, for byte-for-byte checks. */
export function fileSha256(filePath: string): string {
  return sha256(fs.readFileSync(filePath));
}

export interface SchemaRow {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

/** `sqlite_schema` as (type, name, tbl_name, sql), ordered by type and name (rowids move on a rebuild). */
export function schemaOf(db: DatabaseHandle): SchemaRow[] {
  return db
    .prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name')
    .all() as SchemaRow[];
}

function tableNames(db: DatabaseHandle): string[] {
  return (
    db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[]
  ).map((row) => row.name);
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * sha256 of one table's rows, by rowid (by every column for WITHOUT ROWID tables; by name for sqlite_sequence,
 * whose rows move when a table is rebuilt). `columns` limits the hash to those columns.
 */
export function tableHash(db: DatabaseHandle, table: string, columns?: readonly string[]): string {
  const all = (db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as { name: string }[]).map(
    (row) => row.name,
  );
  const selected = (columns ?? all).map(quote).join(', ');
  let rows: unknown[];
  if (table === 'sqlite_sequence') {
    rows = db.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').raw().all();
  } else {
    try {
      rows = db
        .prepare(`SELECT rowid, ${selected} FROM ${quote(table)} ORDER BY rowid`)
        .raw()
        .all();
    } catch {
      rows = db
        .prepare(`SELECT ${selected} FROM ${quote(table)} ORDER BY ${all.map((_, i) => i + 1).join(', ')}`)
        .raw()
        .all();
    }
  }
  return sha256(JSON.stringify(rows, (_key, value) => (typeof value === 'bigint' ? String(value) : value)));
}

/** Hash of each table's rows, keyed by table name. */
export function tableHashes(
  dbPath: string,
  columnsOf: Record<string, readonly string[]> = {},
): Record<string, string> {
  return withDb(
    dbPath,
    (db) =>
      Object.fromEntries(tableNames(db).map((table) => [table, tableHash(db, table, columnsOf[table])])),
    true,
  );
}

/** sha256 over every table's rows and the schema (type, name, tbl_name, sql). */
export function contentHash(dbPath: string): string {
  return withDb(
    dbPath,
    (db) => {
      const hashes = tableNames(db).map((table) => [table, tableHash(db, table)]);
      return sha256(JSON.stringify({ tables: hashes, schema: schemaOf(db) }));
    },
    true,
  );
}

/** Files in the directory of `filePath`, sorted. */
export function filesBeside(filePath: string): string[] {
  return fs.readdirSync(path.dirname(filePath)).sort();
}

/** The columns learning_index has at schema 005, in order. */
export const LEARNING_COLUMNS_005 = [
  'id',
  'topic',
  'category',
  'learning',
  'context',
  'source_type',
  'epic_num',
  'story_num',
  'relevance_score',
  'superseded_by',
  'is_active',
  'indexed_at',
  'created_at',
  'metadata',
] as const;

/** A fixed clock for predictable backup names. */
export function fixedClock(iso = '2026-11-24T10:15:00.123Z'): () => Date {
  return () => new Date(iso);
}

/**
 * Leaves a hot `-journal` beside the database, as a writer killed in the middle of a transaction does: a child
 * process changes every learning with a page cache so small that SQLite writes changed pages into the file before
 * COMMIT, and is killed with SIGKILL before it commits.
 */
export async function leaveHotJournal(dbPath: string): Promise<void> {
  const script = `
    const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(dbPath)});
    db.pragma('cache_size = 5');
    db.exec('BEGIN');
    db.exec("UPDATE learning_index SET learning = learning || ' (changed)'");
    process.stdout.write('mid-transaction\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [first] = await Promise.race([once(child.stdout, 'data'), once(child, 'exit')]);
  if (!String(first).includes('mid-transaction')) throw new Error('the writer exited before its transaction');
  child.kill('SIGKILL');
  await once(child, 'exit');
  if ((fs.statSync(`${dbPath}-journal`, { throwIfNoEntry: false })?.size ?? 0) === 0) {
    throw new Error('the killed writer left no journal');
  }
}

/** Removes a backup and the `.sha256` written beside it, as a user tidying up would. */
export function removeBackup(backupPath: string): void {
  fs.rmSync(backupPath);
  fs.rmSync(`${backupPath}.sha256`);
}

/**
 * Overwrites 4 bytes in the middle of a learning's text inside `filePath` (same length, still text), as a disk or a
 * careless edit might: the page stays well-formed, so SQLite's quick_check and integrity_check both still pass.
 * Returns the learning's id.
 */
export function changeFourBytesInARecord(filePath: string): number {
  const { id, learning } = withDb(
    filePath,
    (db) =>
      db
        .prepare('SELECT id, learning FROM learning_index WHERE length(learning) > 20 ORDER BY id LIMIT 1')
        .get() as {
        id: number;
        learning: string;
      },
    true,
  );
  const bytes = fs.readFileSync(filePath);
  const at = bytes.indexOf(Buffer.from(learning, 'utf8'));
  if (at < 0 || bytes.indexOf(Buffer.from(learning, 'utf8'), at + 1) >= 0) {
    throw new Error(`the text of learning ${id} is not in ${filePath} exactly once`);
  }
  bytes.write('XXXX', at + 8, 'latin1');
  fs.writeFileSync(filePath, bytes);
  withDb(
    filePath,
    (db) => {
      for (const check of ['quick_check', 'integrity_check']) {
        if (db.pragma(check, { simple: true }) !== 'ok') throw new Error(`${check} found the change`);
      }
    },
    true,
  );
  return id;
}
