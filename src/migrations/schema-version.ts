import type { Database } from 'better-sqlite3';

/** Helpers for gao-dev's own `schema_version(version TEXT PRIMARY KEY, applied_at, description)` table. */

export function versionRecorded(db: Database, version: string): boolean {
  return db.prepare('SELECT 1 FROM schema_version WHERE version = ?').get(version) !== undefined;
}

/** Recorded versions that sort after `version` numerically (gao-dev writes zero-padded numbers). */
export function laterVersionsThan(db: Database, version: string): string[] {
  const rows = db.prepare('SELECT version FROM schema_version').all() as { version: string }[];
  const threshold = Number(version);
  return rows
    .map((row) => row.version)
    .filter((recorded) => Number.isFinite(Number(recorded)) && Number(recorded) > threshold)
    .sort();
}
