import type { Database as DatabaseHandle } from 'better-sqlite3';
import { ErrorCode, MigrationError } from './errors.js';
import { OLD_TABLE_PREFIX, withScratchTable } from './rebuild-table.js';
import { quoteIdentifier } from './schema.js';
import type { Direction, Migration, MigrationPlan } from './types.js';

/**
 * Rows that break a `CHECK` constraint: written while constraints were ignored (`PRAGMA
 * ignore_check_constraints`), or under an older definition. A table rebuild copies every row into the new
 * definition, which enforces its constraints, so such rows stop it.
 */

/**
 * For a rebuild's row copy that a CHECK constraint stopped: which rows break it, as `2 rows of learning_index
 * break it (rowid 3, 9); correct or delete them, then run again`. SQLite names the constraint's expression in
 * its message; the rows are those for which it is false. Null when the statement is not such a copy, or the
 * rows cannot be told (a named constraint).
 */
export function rowsBreakingCheck(db: DatabaseHandle, sql: string, error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  const expression = /^CHECK constraint failed: ([\s\S]+)$/.exec((error as Error)?.message ?? '')?.[1];
  const source = /^INSERT INTO .+ SELECT .+ FROM ("(?:[^"]|"")+")$/s.exec(sql)?.[1];
  if (code !== 'SQLITE_CONSTRAINT_CHECK' || !expression || !source) return null;
  const table = source.slice(1, -1).replaceAll('""', '"').replace(OLD_TABLE_PREFIX, '');
  try {
    return describeBreakingRows(db, source, table, expression);
  } catch {
    return null;
  }
}

/**
 * A dry run's look at what the row copies of a plan's table rebuilds would meet: rows that break the CHECK
 * constraints of the definition they are copied into stop the real run (its `quick_check` leaves CHECK
 * constraints out, as a read-only connection does).
 */
export function assertRowsPassChecks(
  db: DatabaseHandle,
  migration: Migration,
  direction: Direction,
  plan: MigrationPlan,
): void {
  for (const { table, createSql } of plan.rebuiltTables ?? []) {
    const broken = rowsBreakingChecksOf(db, table, createSql);
    if (broken) {
      throw new MigrationError(
        ErrorCode.MIGRATION_FAILED,
        `Migration ${migration.id} ${direction} would fail when it copies the rows of ${table}: ${broken}.`,
      );
    }
  }
}

/**
 * What a rebuild of `table` into the definition `createSql` would meet, read without changing anything: the
 * first of the definition's CHECK constraints that rows of the table break, as SQLite would report it
 * (`CHECK constraint failed: <expression>: 2 rows of learning_index break it (rowid 3, 9); …`). Null when every
 * row passes, or when the constraints cannot be read from the definition (the copy itself still enforces them).
 * One pass over the table, whatever the number of constraints.
 */
export function rowsBreakingChecksOf(db: DatabaseHandle, table: string, createSql: string): string | null {
  const expressions = checkExpressionsOf(createSql);
  if (expressions.length === 0 || !allCompile(createSql, table, expressions)) return null;
  const source = quoteIdentifier(table);
  try {
    const counts = db
      .prepare(`SELECT ${expressions.map((e) => `sum(${isFalse(e)})`).join(', ')} FROM ${source}`)
      .raw()
      .get() as (number | null)[];
    const broken = counts.findIndex((count) => Number(count) > 0);
    const expression = expressions[broken];
    const rows =
      expression === undefined
        ? null
        : describeBreakingRows(db, source, table, expression, Number(counts[broken]));
    return rows && `CHECK constraint failed: ${oneLine(expression as string)}: ${rows}`;
  } catch {
    return null;
  }
}

/** SQLite's own test: a CHECK fails when its expression, cast to NUMERIC, is zero; NULL passes. */
function isFalse(expression: string): string {
  return `CAST((${expression}) AS NUMERIC) = 0`;
}

function describeBreakingRows(
  db: DatabaseHandle,
  source: string,
  table: string,
  expression: string,
  /** How many rows break it, when already counted. */
  counted?: number,
): string | null {
  const where = isFalse(expression);
  const count = counted ?? Number(db.prepare(`SELECT count(*) FROM ${source} WHERE ${where}`).pluck().get());
  if (count === 0) return null;
  const rowids = db
    .prepare(`SELECT rowid FROM ${source} WHERE ${where} ORDER BY rowid LIMIT 5`)
    .pluck()
    .safeIntegers(true) // a rowid above 2^53 is named exactly, so that the advice reaches the right row
    .all();
  const listed = `${rowids.join(', ')}${count > rowids.length ? ', …' : ''}`;
  return `${count} row${count === 1 ? '' : 's'} of ${table} break${count === 1 ? 's' : ''} it (rowid ${listed}); correct or delete ${count === 1 ? 'it' : 'them'}, then run again`;
}

/** Proves the expressions were read right: each compiles against the definition, in a scratch database. */
function allCompile(createSql: string, table: string, expressions: readonly string[]): boolean {
  try {
    return withScratchTable(createSql, (scratch) =>
      expressions.every((expression) =>
        scratch.prepare(`SELECT ${isFalse(expression)} FROM ${quoteIdentifier(table)}`),
      ),
    );
  } catch {
    return false;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * The expressions of the `CHECK (…)` constraints in a `CREATE TABLE` statement, column and table constraints
 * alike, in the order they are written. Reads SQL tokens: quoted strings and identifiers, and comments, are
 * skipped, so a `check` inside them is not taken for the keyword.
 */
export function checkExpressionsOf(createSql: string): string[] {
  const expressions: string[] = [];
  let at = 0;
  while (at < createSql.length) {
    const skipped = skipQuotedOrComment(createSql, at);
    if (skipped > at) {
      at = skipped;
      continue;
    }
    const word = /^[A-Za-z_][\w$]*/.exec(createSql.slice(at, at + 64))?.[0];
    if (!word) {
      at += 1;
      continue;
    }
    at += word.length;
    if (word.toUpperCase() !== 'CHECK') continue;
    const open = skipBlanks(createSql, at);
    if (createSql[open] !== '(') continue;
    const close = matchingParenthesis(createSql, open);
    if (close < 0) return [];
    expressions.push(createSql.slice(open + 1, close));
    at = close + 1;
  }
  return expressions;
}

/** The index after a quoted token or comment starting at `at`, or `at` when none starts there. */
function skipQuotedOrComment(sql: string, at: number): number {
  const char = sql[at];
  const closer = char === "'" || char === '"' || char === '`' ? char : char === '[' ? ']' : null;
  if (closer) {
    let end = at + 1;
    for (;;) {
      end = sql.indexOf(closer, end);
      if (end < 0) return sql.length;
      // '' inside '…' (and "" inside "…") is an escaped quote, not the end.
      if (closer !== ']' && sql[end + 1] === closer) end += 2;
      else return end + 1;
    }
  }
  if (sql.startsWith('--', at)) {
    const end = sql.indexOf('\n', at);
    return end < 0 ? sql.length : end + 1;
  }
  if (sql.startsWith('/*', at)) {
    const end = sql.indexOf('*/', at + 2);
    return end < 0 ? sql.length : end + 2;
  }
  return at;
}

function skipBlanks(sql: string, at: number): number {
  let index = at;
  for (;;) {
    while (index < sql.length && /\s/.test(sql[index] as string)) index += 1;
    const skipped =
      sql.startsWith('--', index) || sql.startsWith('/*', index) ? skipQuotedOrComment(sql, index) : index;
    if (skipped === index) return index;
    index = skipped;
  }
}

/** The index of the `)` closing the `(` at `open`, or -1. */
function matchingParenthesis(sql: string, open: number): number {
  let depth = 0;
  let at = open;
  while (at < sql.length) {
    const skipped = skipQuotedOrComment(sql, at);
    if (skipped > at) {
      at = skipped;
      continue;
    }
    if (sql[at] === '(') depth += 1;
    else if (sql[at] === ')') {
      depth -= 1;
      if (depth === 0) return at;
    }
    at += 1;
  }
  return -1;
}
