import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  type BackupShape,
  checkCopyHere,
  checkCopyInThread,
  expectedShape,
} from '../../src/engine/backup-check.js';
import { fileSha256, sampleDb, tempDir, withDb } from '../helpers/sqlite.js';

function shapeOf(dbPath: string): BackupShape {
  return withDb(dbPath, (db) => expectedShape(db), true);
}

/** A database of `mib` MiB or more: one blob row, quick to write. */
function databaseOfSize(mib: number): string {
  const dbPath = path.join(tempDir(), 'big.db');
  const db = new Database(dbPath);
  db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)');
  db.prepare('INSERT INTO blobs (body) VALUES (randomblob(?))').run(mib * 1024 * 1024);
  db.close();
  return dbPath;
}

describe('checking a copy on the calling thread', () => {
  it('hashes the bytes written from memory and finds the copy sound', () => {
    const dbPath = sampleDb({ learnings: 50 });
    const image = fs.readFileSync(dbPath);
    const examined = checkCopyHere(dbPath, shapeOf(dbPath), image);
    expect(examined).toEqual({ sha256: fileSha256(dbPath), problem: null });
  });

  it('hashes a file too large to hash here on a thread of its own, with the same answer', () => {
    const dbPath = databaseOfSize(9);
    expect(fs.statSync(dbPath).size).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    const examined = checkCopyHere(dbPath, shapeOf(dbPath));
    expect(examined).toEqual({ sha256: fileSha256(dbPath), problem: null });
  });

  it('reports a copy whose shape differs from its source', () => {
    const dbPath = sampleDb({ learnings: 50 });
    const shape = shapeOf(dbPath);
    const examined = checkCopyHere(dbPath, { ...shape, pageCount: shape.pageCount + 1 });
    expect(examined.sha256).toBe(fileSha256(dbPath));
    expect(examined.problem).toEqual({
      reason: 'shape',
      detail: `${shape.pageCount} pages of ${shape.pageSize} bytes, expected ${shape.pageCount + 1} of ${shape.pageSize}`,
    });
  });

  it('reports a file that is not a database', () => {
    const filePath = path.join(tempDir(), 'text.db');
    fs.writeFileSync(filePath, 'not a database, '.repeat(400));
    const examined = checkCopyHere(filePath, { pageCount: 1, pageSize: 4096, schemaObjects: 0 });
    expect(examined.problem?.reason).toBe('open');
    expect(examined.problem?.detail).toMatch(/not a database/);
  });
});

describe('checking a copy on a worker thread', () => {
  it('answers what the check on the calling thread answers', () => {
    const dbPath = sampleDb({ learnings: 50 });
    const shape = shapeOf(dbPath);
    const inThread = checkCopyInThread(dbPath, shape).result();
    expect(inThread).toEqual(checkCopyHere(dbPath, shape));
    expect(inThread.sha256).toBe(fileSha256(dbPath));
  });
});
