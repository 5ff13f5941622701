import type { Database } from 'better-sqlite3';
import { quoteIdentifier } from './schema.js';

/**
 * What SQLite answers when it compiles each of the user's triggers and views, keyed by what was compiled: the
 * statements that fire a table's (or a view's) triggers, an INSERT, an UPDATE of every column and a DELETE, and a
 * read of each view. They are prepared, never run, so no row is read or written.
 *
 * SQLite compiles a trigger's body into every statement that fires it, and checks a view's columns when it is
 * read. A change that adds or removes columns can break either without touching it: a trigger that copies
 * `SELECT *` of a table into an archive table, or inserts into a table without naming its columns, fails with "table
 * li_archive has 14 columns but 18 values were supplied" once the table has more; so does a view that names fewer
 * columns than its `SELECT *` returns. Comparing what compiles before the change with what compiles after it finds
 * exactly those, and leaves alone what never compiled here (a function only the user's application defines).
 */
export function compileProblems(db: Database): Map<string, CompileProblem> {
  const problems = new Map<string, CompileProblem>();
  const objects = db
    .prepare("SELECT type, name, tbl_name FROM sqlite_schema WHERE type IN ('trigger', 'view') ORDER BY name")
    .all() as { type: 'trigger' | 'view'; name: string; tbl_name: string }[];
  const triggersOf = new Map<string, string[]>();
  for (const object of objects) {
    if (object.type === 'view') {
      tryCompile(
        db,
        problems,
        `read of view ${object.name}`,
        [object.name],
        `SELECT * FROM ${quoteIdentifier(object.name)}`,
      );
      continue;
    }
    const key = object.tbl_name.toLowerCase();
    triggersOf.set(key, [...(triggersOf.get(key) ?? []), object.name]);
  }
  for (const [key, triggers] of triggersOf) {
    const target = objects.find((object) => object.tbl_name.toLowerCase() === key)?.tbl_name ?? key;
    const quoted = quoteIdentifier(target);
    const columns = updatableColumns(db, target);
    const statements: [string, string | null][] = [
      ['insert into', `INSERT INTO ${quoted} DEFAULT VALUES`],
      [
        'update of',
        columns.length > 0 ? `UPDATE ${quoted} SET ${columns.map((c) => `${c} = ${c}`).join(', ')}` : null,
      ],
      ['delete from', `DELETE FROM ${quoted}`],
    ];
    for (const [what, sql] of statements) {
      if (sql) tryCompile(db, problems, `${what} ${target}`, triggers, sql);
    }
  }
  return problems;
}

export interface CompileProblem {
  /** The triggers the statement fires, or the view read. */
  objects: string[];
  /** SQLite's message. */
  message: string;
}

/** What fails to compile after a change that compiled before it. */
export function newCompileProblems(
  before: ReadonlyMap<string, CompileProblem>,
  after: ReadonlyMap<string, CompileProblem>,
): [string, CompileProblem][] {
  return [...after].filter(([key, problem]) => before.get(key)?.message !== problem.message);
}

/** One sentence of what the change would break, for an error message. */
export function describeBroken(broken: readonly [string, CompileProblem][]): string {
  return broken
    .map(([what, problem]) => {
      const objects = what.startsWith('read of view')
        ? what
        : `${what}, which fires trigger${problem.objects.length > 1 ? 's' : ''} ${problem.objects.join(', ')}`;
      return `${objects}, would fail (${problem.message})`;
    })
    .join('; ');
}

function tryCompile(
  db: Database,
  problems: Map<string, CompileProblem>,
  what: string,
  objects: string[],
  sql: string,
): void {
  try {
    db.prepare(sql);
  } catch (error) {
    problems.set(what, { objects, message: String((error as Error).message).replace(/[.\s]+$/, '') });
  }
}

/** The columns an UPDATE may set: a generated column cannot be (table_xinfo's hidden 2 and 3). */
function updatableColumns(db: Database, table: string): string[] {
  try {
    const rows = db.prepare('SELECT name, hidden FROM pragma_table_xinfo(?)').all(table) as {
      name: string;
      hidden: number;
    }[];
    return rows.filter((row) => row.hidden === 0).map((row) => quoteIdentifier(row.name));
  } catch {
    return [];
  }
}
