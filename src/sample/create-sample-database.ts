import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { seededRandom } from './seeded-random.js';

/** The exact gao-dev schema at version 005, kept in the repository (a copy of ../shared/fixtures). */
export const BASELINE_005_SQL_PATH = fileURLToPath(
  new URL('../../fixtures/gao-dev-baseline-005.sql', import.meta.url),
);

export interface SampleDatabaseOptions {
  /** Rows in learning_index. Default: 1000. */
  learnings?: number;
  /** Rows in epic_state (each with a few stories). Default: 10. */
  epics?: number;
  /** Rows in documents (each feeds the FTS table through its triggers). Default: 50. */
  documents?: number;
  /** Leave the database in WAL mode. Default: false. */
  wal?: boolean;
  /** Seed for the deterministic content. Default: 1. */
  seed?: number;
}

const CATEGORIES = ['technical', 'process', 'domain', 'architectural', 'team'] as const;
const SOURCES = ['retrospective', 'postmortem', 'code_review', 'incident', 'experiment', null] as const;
const DOC_TYPES = ['prd', 'architecture', 'epic', 'story', 'adr'] as const;
const STORY_STATUSES = ['pending', 'in_progress', 'review', 'testing', 'completed', 'blocked'] as const;

/**
 * Creates a gao-dev project database at schema 005 with realistic content: epics and stories, documents with
 * their FTS rows, action items, ceremonies, and learnings with `superseded_by` chains. Refuses to overwrite.
 */
export function createSampleDatabase(dbPath: string, options: SampleDatabaseOptions = {}): void {
  const { learnings = 1000, epics = 10, documents = 50, wal = false, seed = 1 } = options;
  if (fs.existsSync(dbPath)) throw new Error(`${dbPath} already exists`);
  fs.mkdirSync(path.dirname(dbPath), { recursive: true });
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const db = new Database(dbPath);
  try {
    db.exec(fs.readFileSync(BASELINE_005_SQL_PATH, 'utf8'));
    db.pragma('foreign_keys = ON');
    const stamp = '2026-01-15 09:30:00';
    db.transaction(() => {
      const epic = db.prepare(
        'INSERT INTO epic_state (epic_num, title, status, total_stories, completed_stories, progress_percentage, created_at, updated_at) VALUES (?, ?, ?, 4, ?, ?, ?, ?)',
      );
      const story = db.prepare(
        'INSERT INTO story_state (epic_num, story_num, title, status, priority, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      for (let e = 1; e <= epics; e++) {
        const done = Math.floor(random() * 5);
        epic.run(e, `Epic ${e}`, done === 4 ? 'completed' : 'in_progress', done, done * 25, stamp, stamp);
        for (let s = 1; s <= 4; s++)
          story.run(
            e,
            s,
            `Story ${e}.${s}`,
            pick(STORY_STATUSES),
            pick(['P0', 'P1', 'P2', 'P3']),
            stamp,
            stamp,
          );
      }
      const document = db.prepare(
        'INSERT INTO documents (path, type, state, created_at, modified_at, author, feature, epic, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (let d = 1; d <= documents; d++) {
        const tags = JSON.stringify({ tags: [`tag${d % 7}`, 'gao'] });
        document.run(
          `docs/feature-${d % 5}/doc-${d}.md`,
          pick(DOC_TYPES),
          'active',
          stamp,
          stamp,
          'dev',
          `feature-${d % 5}`,
          (d % epics) + 1,
          tags,
        );
      }
      const action = db.prepare(
        'INSERT INTO action_items (title, status, epic_num, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      );
      const ceremony = db.prepare(
        'INSERT INTO ceremony_summaries (ceremony_type, epic_num, summary, held_at, created_at) VALUES (?, ?, ?, ?, ?)',
      );
      for (let e = 1; e <= epics; e++) {
        action.run(`Follow up on epic ${e}`, 'pending', e, stamp, stamp);
        ceremony.run('retrospective', e, `Retro of epic ${e}`, stamp, stamp);
      }
      const learning = db.prepare(
        'INSERT INTO learning_index (topic, category, learning, context, source_type, epic_num, story_num, relevance_score, superseded_by, is_active, indexed_at, created_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (let i = 1; i <= learnings; i++) {
        // A third of the learnings are superseded by the next one: chains of superseded_by references.
        const superseded = i % 3 === 0 && i < learnings;
        learning.run(
          `topic-${i % 97}`,
          pick(CATEGORIES),
          `Learning ${i}: ${'keep tests close to the code. '.repeat(1 + (i % 3))}`,
          i % 2 ? `context ${i}` : null,
          pick(SOURCES),
          (i % epics) + 1,
          (i % 4) + 1,
          Math.round(random() * 1000) / 1000,
          null,
          superseded ? 0 : 1,
          stamp,
          stamp,
          i % 5 ? null : JSON.stringify({ source: 'sample', n: i }),
        );
      }
      // superseded_by points forward, so set it once the newer learnings exist.
      db.prepare('UPDATE learning_index SET superseded_by = id + 1 WHERE is_active = 0 AND id < ?').run(
        learnings,
      );
    })();
    if (wal) db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
}
