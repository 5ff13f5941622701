import type { Database } from 'better-sqlite3';
import { ErrorCode, MigrationError } from '../engine/errors.js';
import {
  CREATE_HISTORY_TABLE,
  forgetMigrationSql,
  recordedTableDefinition,
  recordTableDefinitionSql,
} from '../engine/history.js';
import { columnNamesOf, planTableRebuild } from '../engine/rebuild-table.js';
import {
  columnsOf,
  foreignKeysOf,
  indexColumns,
  indexKind,
  objectExists,
  objectsMentioning,
  tableExists,
  tableSql,
  tablesReferencing,
} from '../engine/schema.js';
import type { DiscardedData, Migration, MigrationPlan, VerificationIssue } from '../engine/types.js';
import { LEARNING_INDEX_005_SQL } from './baseline-005.js';
import { laterVersionsThan, versionRecorded } from './schema-version.js';

const ID = '006';

export const NEW_COLUMNS = [
  { name: 'application_count', type: 'INTEGER', defaultValue: '0' },
  { name: 'success_rate', type: 'REAL', defaultValue: '1.0' },
  { name: 'confidence_score', type: 'REAL', defaultValue: '0.5' },
  { name: 'decay_factor', type: 'REAL', defaultValue: '1.0' },
] as const;

const CREATE_LEARNING_APPLICATIONS = `CREATE TABLE learning_applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    learning_id INTEGER NOT NULL,
    epic_num INTEGER,
    story_num INTEGER,
    outcome TEXT NOT NULL CHECK(outcome IN ('success', 'failure', 'partial')),
    application_context TEXT,
    applied_at TEXT NOT NULL,
    metadata JSON,
    FOREIGN KEY (learning_id) REFERENCES learning_index(id) ON DELETE CASCADE,
    FOREIGN KEY (epic_num) REFERENCES epic_state(epic_num) ON DELETE SET NULL
)`;

/** Expected columns of learning_applications: name, declared type, NOT NULL, primary key. */
const APPLICATION_COLUMNS = [
  ['id', 'INTEGER', 0, 1],
  ['learning_id', 'INTEGER', 1, 0],
  ['epic_num', 'INTEGER', 0, 0],
  ['story_num', 'INTEGER', 0, 0],
  ['outcome', 'TEXT', 1, 0],
  ['application_context', 'TEXT', 0, 0],
  ['applied_at', 'TEXT', 1, 0],
  ['metadata', 'JSON', 0, 0],
] as const;

const APPLICATION_FOREIGN_KEYS = [
  { from: 'learning_id', table: 'learning_index', to: 'id', onDelete: 'CASCADE' },
  { from: 'epic_num', table: 'epic_state', to: 'epic_num', onDelete: 'SET NULL' },
] as const;

export const NEW_INDEXES = [
  {
    name: 'idx_learning_applications_learning_id',
    table: 'learning_applications',
    columns: ['learning_id'],
    desc: [false],
  },
  {
    name: 'idx_learning_applications_epic',
    table: 'learning_applications',
    columns: ['epic_num'],
    desc: [false],
  },
  {
    name: 'idx_learning_applications_applied_at',
    table: 'learning_applications',
    columns: ['applied_at'],
    desc: [false],
  },
  {
    name: 'idx_learning_index_category_active',
    table: 'learning_index',
    columns: ['category', 'is_active'],
    desc: [false, false],
  },
  {
    name: 'idx_learning_index_relevance',
    table: 'learning_index',
    columns: ['relevance_score'],
    desc: [true],
  },
] as const;

const LEARNING_INDEX_INDEXES = NEW_INDEXES.filter((index) => index.table === 'learning_index').map(
  (index) => index.name,
);

function createIndexSql(index: (typeof NEW_INDEXES)[number]): string {
  const columns = index.columns.map((column, i) => (index.desc[i] ? `${column} DESC` : column)).join(', ');
  return `CREATE INDEX ${index.name} ON ${index.table}(${columns})`;
}

/**
 * What `down` throws away: every row of learning_applications, and the four metrics of each learning that holds
 * a value other than the column's default (a default carries nothing that would be lost).
 */
function dataDownDiscards(db: Database): DiscardedData[] {
  const applications = Number(db.prepare('SELECT count(*) FROM learning_applications').pluck().get());
  const differs = NEW_COLUMNS.map((column) => `${column.name} IS NOT ${column.defaultValue}`).join(' OR ');
  const learnings = Number(db.prepare(`SELECT count(*) FROM learning_index WHERE ${differs}`).pluck().get());
  return [
    {
      object: 'learning_applications',
      rows: applications,
      message: `${plural(applications, 'row')} of learning_applications`,
    },
    {
      object: `learning_index (${NEW_COLUMNS.map((column) => column.name).join(', ')})`,
      rows: learnings,
      message: `the metrics of ${plural(learnings, 'learning')} (values other than the defaults)`,
    },
  ];
}

function plural(count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;
}

/** Migration 006: learning-application tracking. */
export const migration006: Migration = {
  id: ID,
  name: '006-learning-application-tracking',
  description: 'Add learning application tracking (metrics on learning_index, learning_applications table)',
  requires: '005',
  requiredTables: ['learning_index', 'epic_state', 'schema_version'],
  touchedTables: ['learning_index', 'learning_applications'],

  assertCanRun(db, direction) {
    const later = laterVersionsThan(db, ID);
    if (direction === 'up') {
      if (!versionRecorded(db, this.requires)) {
        throw new MigrationError(
          ErrorCode.PREVIOUS_MIGRATION_MISSING,
          `Migration ${ID} needs migration ${this.requires}, which schema_version does not record.`,
        );
      }
      if (later.length > 0) {
        throw new MigrationError(
          ErrorCode.LATER_MIGRATION_APPLIED,
          `The database records migration ${later.join(', ')}, newer than ${ID}, without ${ID}: its schema is newer than this tool knows.`,
        );
      }
      return;
    }
    if (later.length > 0) {
      throw new MigrationError(
        ErrorCode.LATER_MIGRATION_APPLIED,
        `Migration ${later.join(', ')} is applied and builds on ${ID}: roll ${later.length > 1 ? 'them' : 'it'} back first.`,
      );
    }
    assertNoDependents(db);
    assertNoColumnsBeyond006(db);
  },

  planUp(): MigrationPlan {
    return {
      statements: [
        CREATE_HISTORY_TABLE,
        recordTableDefinitionSql(ID, 'learning_index'),
        ...NEW_COLUMNS.map(
          (column) =>
            `ALTER TABLE learning_index ADD COLUMN ${column.name} ${column.type} DEFAULT ${column.defaultValue}`,
        ),
        CREATE_LEARNING_APPLICATIONS,
        ...NEW_INDEXES.map(createIndexSql),
        `INSERT INTO schema_version (version, applied_at, description) VALUES ('${ID}', datetime('now'), '${this.description}')`,
      ],
      foreignKeysOff: false,
      foreignKeyCheckTables: ['learning_applications'],
      quickCheckTables: ['learning_applications'],
      rowCountTables: ['learning_index'],
    };
  },

  planDown(db): MigrationPlan {
    const rebuilt = { table: 'learning_index', createSql: learningIndexDefinitionBefore006(db) };
    return {
      statements: [
        'DROP TABLE learning_applications',
        ...LEARNING_INDEX_INDEXES.map((name) => `DROP INDEX ${name}`),
        ...planTableRebuild(db, { ...rebuilt, dropObjects: LEARNING_INDEX_INDEXES }),
        `DELETE FROM schema_version WHERE version = '${ID}'`,
        ...forgetMigrationSql(db, ID),
      ],
      foreignKeysOff: true,
      foreignKeyCheckTables: ['learning_index', ...tablesReferencing(db, 'learning_index')],
      // The rebuilt table is SQLite's own copy: a row count proves the copy whole at a fraction of quick_check's
      // cost (1 s and more at a million learnings); the backup's quick_check vouches for the rows themselves.
      quickCheckTables: [],
      rowCountTables: ['learning_index'],
      discards: dataDownDiscards(db),
      rebuiltTables: [rebuilt],
    };
  },

  inspect(db) {
    const issues: VerificationIssue[] = [];
    let present = 0;
    let expected = 0;
    const learningColumns = new Map(columnsOf(db, 'learning_index').map((column) => [column.name, column]));
    for (const column of NEW_COLUMNS) {
      expected += 1;
      const actual = learningColumns.get(column.name);
      const object = `learning_index.${column.name}`;
      if (!actual) {
        issues.push({ kind: 'missing-column', object, message: `Column ${object} is missing.` });
        continue;
      }
      present += 1;
      if (actual.type.toUpperCase() !== column.type) {
        issues.push({
          kind: 'wrong-type',
          object,
          message: `Column ${object} is ${actual.type}, expected ${column.type}.`,
        });
      }
      if (actual.dflt_value !== column.defaultValue) {
        issues.push({
          kind: 'wrong-default',
          object,
          message: `Column ${object} defaults to ${actual.dflt_value ?? 'NULL'}, expected ${column.defaultValue}.`,
        });
      }
    }
    expected += 1;
    if (tableExists(db, 'learning_applications')) {
      present += 1;
      issues.push(...inspectApplicationsTable(db));
    } else {
      issues.push({
        kind: 'missing-table',
        object: 'learning_applications',
        message: 'Table learning_applications is missing.',
      });
    }
    for (const index of NEW_INDEXES) {
      expected += 1;
      if (!objectExists(db, 'index', index.name)) {
        issues.push({
          kind: 'missing-index',
          object: index.name,
          message: `Index ${index.name} is missing.`,
        });
        continue;
      }
      present += 1;
      issues.push(...inspectIndex(db, index));
    }
    expected += 1;
    if (versionRecorded(db, ID)) present += 1;
    else
      issues.push({
        kind: 'missing-version',
        object: 'schema_version',
        message: `schema_version has no '${ID}' row.`,
      });
    const state = present === expected ? 'applied' : present === 0 ? 'not-applied' : 'partial';
    return { state, issues: state === 'not-applied' ? [] : issues };
  },

  inspectReverted(db) {
    const issues: VerificationIssue[] = [];
    const { state, issues: remaining } = this.inspect(db);
    if (state !== 'not-applied')
      issues.push(...remaining.filter((issue) => !issue.kind.startsWith('missing-')));
    if (state !== 'not-applied') {
      issues.push({
        kind: 'not-reverted',
        object: ID,
        message: `Objects of migration ${ID} remain after down: ${remainingObjects(db).join(', ')}.`,
      });
    }
    return issues;
  },

  probeConstraints(db, { thorough = true } = {}) {
    return probeApplicationConstraints(db, thorough);
  },
};

/**
 * What of 006 is still in the database, by name; the row in schema_version with the triggers on that table that
 * may have kept it there (a `RAISE(IGNORE)` before a delete skips the delete without an error).
 */
function remainingObjects(db: Database): string[] {
  const columns = new Set(columnsOf(db, 'learning_index').map((column) => column.name));
  const remaining = [
    ...NEW_COLUMNS.filter((column) => columns.has(column.name)).map(
      (column) => `learning_index.${column.name}`,
    ),
    ...(tableExists(db, 'learning_applications') ? ['table learning_applications'] : []),
    ...NEW_INDEXES.filter((index) => objectExists(db, 'index', index.name)).map(
      (index) => `index ${index.name}`,
    ),
  ];
  if (versionRecorded(db, ID)) {
    const triggers = db
      .prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'schema_version' COLLATE NOCASE ORDER BY name",
      )
      .pluck()
      .all() as string[];
    remaining.push(
      triggers.length > 0
        ? `schema_version's '${ID}' row (triggers on schema_version, which may keep it: ${triggers.join(', ')})`
        : `schema_version's '${ID}' row`,
    );
  }
  return remaining;
}

/** The definition learning_index had before 006: recorded at up time, else the 005 baseline's. */
export function learningIndexDefinitionBefore006(db: Database): string {
  return recordedTableDefinition(db, ID, 'learning_index') ?? LEARNING_INDEX_005_SQL;
}

function inspectApplicationsTable(db: Database): VerificationIssue[] {
  const issues: VerificationIssue[] = [];
  const columns = new Map(columnsOf(db, 'learning_applications').map((column) => [column.name, column]));
  for (const [name, type, notnull, pk] of APPLICATION_COLUMNS) {
    const object = `learning_applications.${name}`;
    const actual = columns.get(name);
    if (!actual) {
      issues.push({ kind: 'missing-column', object, message: `Column ${object} is missing.` });
      continue;
    }
    if (actual.type.toUpperCase() !== type || actual.notnull !== notnull || actual.pk !== pk) {
      issues.push({
        kind: 'wrong-column',
        object,
        message: `Column ${object} is ${actual.type}${actual.notnull ? ' NOT NULL' : ''}${actual.pk ? ' PRIMARY KEY' : ''}, expected ${type}${notnull ? ' NOT NULL' : ''}${pk ? ' PRIMARY KEY' : ''}.`,
      });
    }
  }
  const sql = tableSql(db, 'learning_applications') ?? '';
  if (!/\bAUTOINCREMENT\b/i.test(sql)) {
    issues.push({
      kind: 'missing-autoincrement',
      object: 'learning_applications.id',
      message: 'learning_applications.id is not AUTOINCREMENT.',
    });
  }
  if (!/CHECK\s*\(\s*outcome\s+IN\s*\(\s*'success'\s*,\s*'failure'\s*,\s*'partial'\s*\)\s*\)/i.test(sql)) {
    issues.push({
      kind: 'missing-check',
      object: 'learning_applications.outcome',
      message: "learning_applications.outcome lacks CHECK(outcome IN ('success','failure','partial')).",
    });
  }
  const foreignKeys = foreignKeysOf(db, 'learning_applications');
  for (const expected of APPLICATION_FOREIGN_KEYS) {
    const found = foreignKeys.find(
      (fk) =>
        fk.from === expected.from &&
        fk.table === expected.table &&
        fk.to === expected.to &&
        fk.on_delete === expected.onDelete,
    );
    if (!found) {
      issues.push({
        kind: 'missing-foreign-key',
        object: `learning_applications.${expected.from}`,
        message: `learning_applications.${expected.from} lacks REFERENCES ${expected.table}(${expected.to}) ON DELETE ${expected.onDelete}.`,
      });
    }
  }
  return issues;
}

function inspectIndex(db: Database, index: (typeof NEW_INDEXES)[number]): VerificationIssue[] {
  const row = db
    .prepare("SELECT tbl_name FROM sqlite_schema WHERE type = 'index' AND name = ?")
    .get(index.name) as {
    tbl_name: string;
  };
  const columns = indexColumns(db, index.name);
  // UNIQUE would refuse a second application of a learning; a WHERE clause or a collation would leave the
  // tracked queries without their index.
  const { unique, partial } = indexKind(db, row.tbl_name, index.name);
  const matches =
    row.tbl_name === index.table &&
    !unique &&
    !partial &&
    columns.length === index.columns.length &&
    columns.every(
      (column, i) =>
        column.name === index.columns[i] &&
        column.desc === index.desc[i] &&
        column.collation.toUpperCase() === 'BINARY',
    );
  if (matches) return [];
  const actual = columns
    .map(
      (column) =>
        `${column.name}${column.collation.toUpperCase() === 'BINARY' ? '' : ` COLLATE ${column.collation}`}${column.desc ? ' DESC' : ''}`,
    )
    .join(', ');
  const kind = `${unique ? 'a UNIQUE index ' : ''}on ${row.tbl_name}(${actual})${partial ? ' with a WHERE clause' : ''}`;
  return [
    {
      kind: 'wrong-index',
      object: index.name,
      message: `Index ${index.name} is ${kind}, expected ${createIndexSql(index).replace(/^CREATE INDEX \S+ ON /, '')}.`,
    },
  ];
}

/**
 * Views, triggers and indexes outside 006 that use what down removes, and tables whose foreign keys reference
 * learning_applications (every write to them would fail once it is gone), would break: refuse rather than break them.
 * An index reads only its own table: one on another table that names a column as 006 does (a user's
 * `team_stats(success_rate)`) uses nothing of 006's, and those on learning_applications go with it.
 */
function assertNoDependents(db: Database): void {
  const own = new Set<string>(NEW_INDEXES.map((index) => index.name));
  const words = ['learning_applications', ...NEW_COLUMNS.map((column) => column.name)];
  const dependents = objectsMentioning(db, words)
    .filter(
      (object) =>
        !own.has(object.name) &&
        !(object.type === 'index' && object.tbl_name.toLowerCase() !== 'learning_index'),
    )
    .map((object) => `${object.type} ${object.name}`);
  for (const table of tablesReferencing(db, 'learning_applications')) {
    if (table.toLowerCase() !== 'learning_applications') dependents.push(`table ${table}`);
  }
  if (dependents.length > 0) {
    const names = dependents.join(', ');
    throw new MigrationError(
      ErrorCode.DEPENDENT_OBJECTS,
      `Cannot roll back ${ID}: ${names} use${dependents.length === 1 ? 's' : ''} learning_applications or the columns 006 added; drop or change ${dependents.length === 1 ? 'it' : 'them'} first.`,
    );
  }
}

/** Columns added to learning_index after 006 would be lost by the rebuild: refuse. */
function assertNoColumnsBeyond006(db: Database): void {
  const before = new Set(columnNamesOf(learningIndexDefinitionBefore006(db), 'learning_index'));
  const added = new Set<string>(NEW_COLUMNS.map((column) => column.name));
  const unknown = columnsOf(db, 'learning_index')
    .map((column) => column.name)
    .filter((name) => !before.has(name) && !added.has(name));
  if (unknown.length > 0) {
    throw new MigrationError(
      ErrorCode.SCHEMA_DRIFT,
      `Cannot roll back ${ID}: learning_index has column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} that neither 005 nor 006 defines, and the rebuild would drop ${unknown.length > 1 ? 'them' : 'it'}.`,
    );
  }
}

/**
 * Tries rows that the constraints must refuse and, when `thorough`, a delete that must cascade, inside a savepoint
 * that is always rolled back. Needs foreign keys on; reports nothing about foreign keys when they are off on this
 * connection.
 *
 * The cascade's try costs a pass over learning_index: deleting a learning makes SQLite look for the learnings it
 * supersedes, and superseded_by has no index (about 0.25 s at a million learnings). `up` leaves it out: the
 * statements it has just run made the definition `inspect` compares, and the try of the foreign key proves them
 * enforced on the connection.
 *
 * The CHECK and NOT NULL tries defer foreign keys, so that they test their own constraint whatever learning they
 * name. The cascade needs a learning of its own: when the database refuses one (a user's trigger that validates
 * learnings, a full AUTOINCREMENT counter), the cascade is not tried; `inspect` still compares its definition.
 */
function probeApplicationConstraints(db: Database, thorough: boolean): VerificationIssue[] {
  const issues: VerificationIssue[] = [];
  const foreignKeysOn = Number(db.pragma('foreign_keys', { simple: true })) === 1;
  // Outside a transaction the savepoint starts one, and releasing it would commit an empty write transaction
  // (a new file change counter): verify must leave the file byte-for-byte as it was, so roll it back instead.
  const outermost = !db.inTransaction;
  const deferredBefore = Number(db.pragma('defer_foreign_keys', { simple: true })) === 1;
  db.exec('SAVEPOINT gao_migrate_probe');
  try {
    const insert = db.prepare(
      'INSERT INTO learning_applications (learning_id, outcome, applied_at) VALUES (?, ?, ?)',
    );
    const expectRefused = (kind: string, object: string, message: string, run: () => void) => {
      try {
        run();
        issues.push({ kind, object, message });
      } catch {
        // refused, as it must be
      }
    };
    db.pragma('defer_foreign_keys = ON');
    expectRefused(
      'check-not-enforced',
      'learning_applications.outcome',
      'An outcome outside success/failure/partial was accepted.',
      () => insert.run(-1, 'bogus', 'probe'),
    );
    expectRefused(
      'not-null-not-enforced',
      'learning_applications.applied_at',
      'A NULL applied_at was accepted.',
      () => insert.run(-1, 'success', null),
    );
    db.pragma('defer_foreign_keys = OFF');
    if (foreignKeysOn) {
      expectRefused(
        'foreign-key-not-enforced',
        'learning_applications.learning_id',
        'An application of a learning that does not exist was accepted.',
        () => insert.run(-1, 'success', 'probe'),
      );
      const learning = thorough ? insertProbeLearning(db, outermost) : null;
      // A user's trigger may have given the new learning another id, or removed it: nothing to try the cascade on.
      if (
        learning !== null &&
        db.prepare('SELECT 1 FROM learning_index WHERE id = ?').safeIntegers(true).get(learning) !== undefined
      ) {
        const application = insert.run(learning, 'success', 'probe').lastInsertRowid;
        const deleted = deleteProbeLearning(db, learning, outermost);
        if (
          deleted === 'refused-by-foreign-key' ||
          (deleted === 'deleted' &&
            db.prepare('SELECT 1 FROM learning_applications WHERE id = ?').get(application) !== undefined)
        ) {
          issues.push({
            kind: 'cascade-not-enforced',
            object: 'learning_applications.learning_id',
            message: 'Deleting a learning did not delete its applications.',
          });
        }
      }
    }
  } finally {
    undoProbe(db, outermost);
    db.pragma(`defer_foreign_keys = ${deferredBefore ? 'ON' : 'OFF'}`);
  }
  return issues;
}

/**
 * A learning for the cascade to delete, or null when the database refuses to add one. Its id is read as a safe
 * integer: ids above 2^53 are legal. A refusal that took the whole transaction with it (SQLite rolls back on a full
 * database; a user's trigger may RAISE(ROLLBACK)) is reported inside a change, whose work it undid; when the probe's
 * savepoint began the transaction (verify), it undid only the probe's own rows, and the cascade is not tried.
 */
function insertProbeLearning(db: Database, outermost: boolean): bigint | null {
  try {
    const id = db
      .prepare(
        "INSERT INTO learning_index (topic, category, learning, indexed_at, created_at) VALUES ('gao-migrate probe', 'technical', 'probe', 'probe', 'probe') RETURNING id",
      )
      .safeIntegers(true)
      .pluck()
      .get() as bigint | undefined;
    return id ?? null; // a trigger's RAISE(IGNORE) adds nothing
  } catch (error) {
    if (!db.inTransaction && !outermost) {
      throw new MigrationError(
        ErrorCode.MIGRATION_FAILED,
        `SQLite rolled the transaction back when the constraint check added a learning to try the cascade on (${(error as Error).message})`,
      );
    }
    return null;
  }
}

/**
 * Deletes the probe's learning. A foreign key without ON DELETE CASCADE refuses the delete instead of cascading
 * it; a trigger of the user's that refuses or skips deletes of learnings says nothing about the cascade, which is
 * then not tried (`inspect` still compares its definition). A refusal that rolled the transaction back is taken as
 * insertProbeLearning takes one.
 */
function deleteProbeLearning(
  db: Database,
  learning: bigint,
  outermost: boolean,
): 'deleted' | 'refused-by-foreign-key' | 'refused-otherwise' {
  try {
    const { changes } = db.prepare('DELETE FROM learning_index WHERE id = ?').run(learning);
    return changes > 0 ? 'deleted' : 'refused-otherwise';
  } catch (error) {
    if (!db.inTransaction) {
      if (outermost) return 'refused-otherwise';
      throw new MigrationError(
        ErrorCode.MIGRATION_FAILED,
        `SQLite rolled the transaction back when the constraint check deleted the learning it had added to try the cascade on (${(error as Error).message})`,
      );
    }
    return (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
      ? 'refused-by-foreign-key'
      : 'refused-otherwise';
  }
}

function undoProbe(db: Database, outermost: boolean): void {
  if (!db.inTransaction) return;
  if (outermost) db.exec('ROLLBACK');
  else {
    db.exec('ROLLBACK TO gao_migrate_probe');
    db.exec('RELEASE gao_migrate_probe');
  }
}
