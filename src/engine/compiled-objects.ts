import BetterSqlite3, { type Database } from 'better-sqlite3';
import { ErrorCode, MigrationError } from './errors.js';
import { quoteIdentifier } from './schema.js';
import { referencedNames } from './sql-names.js';
import type { Direction } from './types.js';

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
    .prepare(
      "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('trigger', 'view') ORDER BY name",
    )
    .all() as { type: 'trigger' | 'view'; name: string; tbl_name: string; sql: string | null }[];
  const triggersOn = new Map<
    string,
    { table: string; triggers: { name: string; event: TriggerEvent | null }[] }
  >();
  for (const object of objects) {
    if (object.type === 'view') {
      const read = `SELECT * FROM ${quoteIdentifier(object.name)}`;
      tryCompile(db, problems, `read of view ${object.name}`, [object.name], read);
      continue;
    }
    const key = object.tbl_name.toLowerCase();
    const entry = triggersOn.get(key) ?? { table: object.tbl_name, triggers: [] };
    entry.triggers.push({ name: object.name, event: triggerEventOf(object.sql ?? '') });
    triggersOn.set(key, entry);
  }
  for (const { table, triggers } of triggersOn.values()) {
    const quoted = quoteIdentifier(table);
    const columns = updatableColumns(db, table);
    const statements: [TriggerEvent, string | null][] = [
      ['insert', `INSERT INTO ${quoted} DEFAULT VALUES`],
      [
        'update',
        columns.length > 0 ? `UPDATE ${quoted} SET ${columns.map((c) => `${c} = ${c}`).join(', ')}` : null,
      ],
      ['delete', `DELETE FROM ${quoted}`],
    ];
    for (const [event, sql] of statements) {
      // The triggers this statement fires: those of its event, and any whose event could not be read.
      const fired = triggers.filter((trigger) => trigger.event === null || trigger.event === event);
      if (sql && fired.length > 0) {
        const what = `${event === 'insert' ? 'insert into' : event === 'update' ? 'update of' : 'delete from'} ${table}`;
        tryCompile(
          db,
          problems,
          what,
          fired.map((trigger) => trigger.name),
          sql,
        );
      }
    }
  }
  return problems;
}

type TriggerEvent = 'insert' | 'update' | 'delete';

/** A name as SQLite's grammar allows it: quoted four ways, or bare. */
const NAME = String.raw`(?:"(?:[^"]|"")*"|\[[^\]]*\]|\`(?:[^\`]|\`\`)*\`|'(?:[^']|'')*'|[^\s."'\`\[]+)`;
const TRIGGER_HEAD = new RegExp(
  String.raw`^\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?${NAME}(?:\s*\.\s*${NAME})?\s+(?:BEFORE\s+|AFTER\s+|INSTEAD\s+OF\s+)?(DELETE|INSERT|UPDATE)\b`,
  'i',
);

/** The event a trigger fires on, read from its SQL, or null when the head does not read as expected. */
function triggerEventOf(sql: string): TriggerEvent | null {
  const event = TRIGGER_HEAD.exec(sql)?.[1];
  return event ? (event.toLowerCase() as TriggerEvent) : null;
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

/** The refusal of a change that would break what compiled before it. */
export function breaksObjectsError(
  direction: Direction,
  broken: readonly [string, CompileProblem][],
): MigrationError {
  return new MigrationError(
    ErrorCode.DEPENDENT_OBJECTS,
    `The ${direction} would break what worked before it: ${describeBroken(broken)}; where ${broken.length > 1 || (broken[0]?.[1].objects.length ?? 0) > 1 ? 'one of these copies' : 'it copies'} rows by position (SELECT *, VALUES without column names), name the columns (or drop it), then run again`,
  );
}

/**
 * The same comparison as the verification's, made before anything is written: the plan's statements run on an
 * empty in-memory copy of the schema (tables, indexes, views and triggers, no rows), so that a dry run, and the
 * real run before its backup, are refused where the verification inside the transaction would refuse. What cannot
 * be copied or run there (a function only the application defines, the shadow tables of a virtual table) is left
 * out, or the rehearsal gives up and answers nothing: the verification inside the transaction still decides.
 */
export function rehearseOnSchema(db: Database, statements: readonly string[]): [string, CompileProblem][] {
  const scratch = new BetterSqlite3(':memory:');
  try {
    scratch.pragma('foreign_keys = OFF');
    const objects = db
      .prepare(
        `SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, rowid`,
      )
      .pluck()
      .all() as string[];
    for (const sql of objects) {
      try {
        scratch.exec(sql);
      } catch {
        // A virtual table's shadow tables (made with it), or what needs the application's functions.
      }
    }
    const before = compileProblems(scratch);
    for (const sql of statements) {
      try {
        scratch.exec(sql);
      } catch {
        return [];
      }
    }
    return newCompileProblems(before, compileProblems(scratch));
  } finally {
    scratch.close();
  }
}

/**
 * Whether a trigger or view could be broken by `statements`: one that is on, or names, a table they name, or a view
 * that does (a view over a changed table changes with it). Nothing else can stop compiling when those tables change.
 * The baseline's own triggers (full-text search on `documents`) reach nothing 006 changes, so the rehearsal (about
 * 2 ms) and the comparison inside the transaction are spared where there is nothing to find.
 */
export function triggersOrViewsReach(db: Database, statements: readonly string[]): boolean {
  const objects = db
    .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('table', 'view', 'trigger')")
    .all() as { type: string; name: string; tbl_name: string; sql: string | null }[];
  const tables = new Set(objects.filter((o) => o.type === 'table').map((o) => o.name.toLowerCase()));
  const named = new Set(statements.flatMap((sql) => [...referencedNames(sql)]));
  // Tables the statements make cannot break what compiled before them: only those already there count.
  const reached = new Set([...named].filter((name) => tables.has(name)));
  const namesOf = (object: (typeof objects)[number]) => [
    object.tbl_name.toLowerCase(),
    ...referencedNames(object.sql ?? ''),
  ];
  const views = objects.filter((o) => o.type === 'view');
  for (let grew = true; grew; ) {
    grew = false;
    for (const view of views) {
      const name = view.name.toLowerCase();
      if (!reached.has(name) && namesOf(view).some((n) => n !== name && reached.has(n))) {
        reached.add(name);
        grew = true;
      }
    }
  }
  return objects.some(
    (o) => (o.type === 'trigger' || o.type === 'view') && namesOf(o).some((n) => reached.has(n)),
  );
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
