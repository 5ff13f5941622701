/**
 * The definition of learning_index at schema 005, verbatim from gao-dev's migration 005
 * (../shared/fixtures/gao-dev-baseline-005.sql). Down restores it when the database holds no recorded definition.
 */
export const LEARNING_INDEX_005_SQL = `CREATE TABLE learning_index (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                topic TEXT NOT NULL,
                category TEXT NOT NULL CHECK(category IN (
                    'technical', 'process', 'domain', 'architectural', 'team'
                )),
                learning TEXT NOT NULL,
                context TEXT,
                source_type TEXT CHECK(source_type IN (
                    'retrospective', 'postmortem', 'code_review', 'incident', 'experiment'
                )),
                epic_num INTEGER,
                story_num INTEGER,
                relevance_score REAL DEFAULT 1.0,
                superseded_by INTEGER,
                is_active INTEGER NOT NULL DEFAULT 1,
                indexed_at TEXT NOT NULL,
                created_at TEXT NOT NULL,
                metadata JSON,
                FOREIGN KEY (epic_num) REFERENCES epic_state(epic_num) ON DELETE SET NULL,
                FOREIGN KEY (superseded_by) REFERENCES learning_index(id) ON DELETE SET NULL
            )`;
