import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { BASELINE_005_SQL_PATH, createSampleDatabase } from '../../src/sample/create-sample-database.js';
import { contentHash, fileSha256, sampleDb, schemaOf, withDb } from '../helpers/sqlite.js';

const SHARED_BASELINE = fileURLToPath(
  new URL('../../../shared/fixtures/gao-dev-baseline-005.sql', import.meta.url),
);

describe('createSampleDatabase', () => {
  it('keeps fixtures/gao-dev-baseline-005.sql byte-identical to ../shared/fixtures', () => {
    expect(fileSha256(BASELINE_005_SQL_PATH)).toBe(fileSha256(SHARED_BASELINE));
  });

  it('builds the exact 005 schema with realistic content', () => {
    const dbPath = sampleDb({ learnings: 600, epics: 5, documents: 12 });
    const reference = new Database(':memory:');
    reference.exec(fs.readFileSync(SHARED_BASELINE, 'utf8'));
    const fresh = schemaOf(reference);
    reference.close();
    withDb(dbPath, (db) => {
      expect(schemaOf(db)).toEqual(fresh);
      const count = (sql: string) => db.prepare(sql).pluck().get();
      expect(count('SELECT count(*) FROM learning_index')).toBe(600);
      expect(count('SELECT count(*) FROM epic_state')).toBe(5);
      expect(count('SELECT count(*) FROM story_state')).toBe(20);
      expect(count('SELECT count(*) FROM documents')).toBe(12);
      expect(count('SELECT count(*) FROM documents_fts')).toBe(12);
      expect(count('SELECT count(*) FROM learning_index WHERE superseded_by = id + 1')).toBe(199);
      expect(count('SELECT max(version) FROM schema_version')).toBe('005');
      expect(db.pragma('foreign_key_check')).toEqual([]);
    });
  });

  it('is deterministic for a seed, in WAL mode when asked, and refuses to overwrite', () => {
    const a = sampleDb({ seed: 7 });
    const b = sampleDb({ seed: 7 });
    expect(contentHash(a)).toBe(contentHash(b));
    expect(contentHash(sampleDb({ seed: 8 }))).not.toBe(contentHash(a));
    const wal = sampleDb({ wal: true });
    expect(withDb(wal, (db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
    expect(() => createSampleDatabase(a)).toThrow(/already exists/);
  });
});
