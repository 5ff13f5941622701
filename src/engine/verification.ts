import type { Database } from 'better-sqlite3';
import {
  breaksObjectsError,
  type CompileProblem,
  compileProblems,
  newCompileProblems,
} from './compiled-objects.js';
import { ErrorCode, MigrationError } from './errors.js';
import { openDatabase } from './preconditions.js';
import { foreignKeyViolations, quoteIdentifier } from './schema.js';
import type { Direction, Migration, MigrationPlan, Verification } from './types.js';

/** What a verification found, and the error it amounts to (null when it passed). */
export interface VerificationOutcome {
  verification: Verification;
  error: MigrationError | null;
}

export interface ChangeContext {
  /** Row counts of `plan.rowCountTables`, taken before the plan's statements ran. */
  rowsBefore: readonly number[];
  /**
   * What failed to compile before the plan's statements ran (see compiled-objects.ts); null where no trigger or
   * view reaches what they change, so that nothing can stop compiling.
   */
  compiledBefore: ReadonlyMap<string, CompileProblem> | null;
  /** The checked backup of the database before the change: it answers which foreign-key violations are new. */
  backupPath: string | null;
  busyTimeoutMs: number;
}

/** Row counts of `tables`, in order. */
export function countRows(db: Database, tables: readonly string[]): number[] {
  return tables.map((table) =>
    Number(
      db
        .prepare(`SELECT count(*) FROM ${quoteIdentifier(table)}`)
        .pluck()
        .get(),
    ),
  );
}

/**
 * A change's verification inside its transaction, before COMMIT: the schema is what the migration defines, the
 * change left no new foreign-key violation, broke none of the user's triggers and views (what compiled before
 * still compiles), the tables it touched pass `quick_check`, and the tables it promises to keep whole have as many
 * rows as before.
 */
export function verifyChange(
  db: Database,
  migration: Migration,
  direction: Direction,
  plan: MigrationPlan,
  context: ChangeContext,
): VerificationOutcome {
  const issues =
    direction === 'up'
      ? [...migration.inspect(db).issues, ...(migration.probeConstraints?.(db, { thorough: false }) ?? [])]
      : migration.inspectReverted(db);
  const fkTables = plan.foreignKeyCheckTables;
  const newViolations = newForeignKeyViolations(db, fkTables, context);
  const integrity = quickCheckOf(db, plan.quickCheckTables ?? fkTables);
  const broken = context.compiledBefore
    ? newCompileProblems(context.compiledBefore, compileProblems(db))
    : [];
  for (const [what, problem] of broken) {
    issues.push({
      kind: 'breaks-object',
      object: problem.objects.join(', '),
      message: `${what}: ${problem.message}`,
    });
  }
  const verification: Verification = {
    ok: issues.length === 0 && newViolations.length === 0 && integrity === 'ok',
    state: direction === 'up' ? 'applied' : 'not-applied',
    issues,
    integrity,
    foreignKeyViolations: newViolations.length,
  };
  if (newViolations.length > 0) {
    const error = new MigrationError(
      ErrorCode.FOREIGN_KEY_VIOLATION,
      `The ${direction} would leave ${newViolations.length} foreign-key violation(s) (first: ${describeViolation(newViolations[0] ?? '')})`,
    );
    return { verification, error };
  }
  if (broken.length > 0) return { verification, error: breaksObjectsError(direction, broken) };
  if (!verification.ok) {
    const first = issues[0]?.message ?? `quick_check reported ${integrity}`;
    const error = new MigrationError(
      ErrorCode.VERIFY_FAILED,
      `Verification inside the transaction failed: ${first}`,
    );
    return { verification, error };
  }
  const tables = plan.rowCountTables ?? [];
  const rowsAfter = countRows(db, tables);
  const changed = tables.findIndex((_, index) => rowsAfter[index] !== context.rowsBefore[index]);
  if (changed >= 0) {
    const error = new MigrationError(
      ErrorCode.VERIFY_FAILED,
      `Verification inside the transaction failed: ${tables[changed]} has ${rowsAfter[changed]} rows, ${context.rowsBefore[changed]} before`,
    );
    return { verification, error };
  }
  return { verification, error: null };
}

/**
 * The `verify` operation: the migration is applied as defined, the database passes `quick_check` (or the full
 * `integrity_check`), and the tables the migration touches have no foreign-key violation.
 */
export function verifyDatabase(
  db: Database,
  migration: Migration,
  dbPath: string,
  fullIntegrityCheck: boolean,
): VerificationOutcome {
  const integrity = String(
    db.pragma(fullIntegrityCheck ? 'integrity_check' : 'quick_check', { simple: true }),
  );
  const { state, issues } = migration.inspect(db);
  const violationList = foreignKeyViolations(db, migration.touchedTables ?? migration.requiredTables);
  const violations = violationList.length;
  if (state === 'applied' && !db.readonly) issues.push(...(migration.probeConstraints?.(db) ?? []));
  if (state === 'partial' && issues.length === 0) {
    issues.push({
      kind: 'partial',
      object: migration.id,
      message: `Migration ${migration.id} is partly applied.`,
    });
  }
  const ok = state === 'applied' && issues.length === 0 && integrity === 'ok' && violations === 0;
  const verification: Verification = { ok, state, issues, integrity, foreignKeyViolations: violations };
  if (ok) return { verification, error: null };
  if (state === 'not-applied') {
    const error = new MigrationError(
      ErrorCode.NOT_APPLIED,
      `Migration ${migration.id} is not applied to ${dbPath}.`,
    );
    return { verification, error };
  }
  const drifted = (message: string) => ({
    verification,
    error: new MigrationError(ErrorCode.VERIFY_DRIFT, message),
  });
  const first = issues[0]?.message;
  if (first) return drifted(`Migration ${migration.id} has drifted: ${first}`);
  if (integrity !== 'ok') {
    return drifted(
      `Migration ${migration.id} is applied as defined, but the database fails its integrity check: ${integrity.replace(/\s*\n\s*/g, '; ')}.`,
    );
  }
  return drifted(
    `Migration ${migration.id} is applied as defined, but ${violations} row(s) break a foreign key (first: ${describeViolation(violationList[0] ?? '')}); correct or delete them.`,
  );
}

/**
 * Violations after the change that were not there before. The checked backup is the database before the
 * change, so it answers for "before" only when there is something to compare: the common case costs one check.
 */
function newForeignKeyViolations(db: Database, tables: readonly string[], context: ChangeContext): string[] {
  const after = foreignKeyViolations(db, tables);
  if (after.length === 0 || !context.backupPath) return after;
  const before = openDatabase(context.backupPath, { readonly: true, busyTimeoutMs: context.busyTimeoutMs });
  try {
    const existing = new Set(foreignKeyViolations(before, tables));
    return after.filter((violation) => !existing.has(violation));
  } finally {
    before.close();
  }
}

function quickCheckOf(db: Database, tables: readonly string[]): string {
  for (const table of tables) {
    const exists = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table);
    if (!exists) continue;
    const result = String(db.prepare('SELECT * FROM pragma_quick_check(?)').pluck().get(table));
    if (result !== 'ok') return `${table}: ${result}`;
  }
  return 'ok';
}

/** `learning_index#2->learning_index[0]` as `learning_index rowid 2 references a missing row of learning_index`. */
function describeViolation(violation: string): string {
  const parts = /^(.*)#(.*)->(.*)\[\d+\]$/.exec(violation);
  return parts ? `${parts[1]} rowid ${parts[2]} references a missing row of ${parts[3]}` : violation;
}
