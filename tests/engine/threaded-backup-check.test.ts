import fs from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ErrorCode, MigrationError } from '../../src/engine/errors.js';
import { Migrator } from '../../src/engine/migrator.js';
import { contentHash, fileSha256, filesBeside, sampleDb, withDb } from '../helpers/sqlite.js';

// Every database qualifies: the backup's check runs on a worker thread while the statements run.
const threaded = new Migrator({ largeDatabaseBytes: 0, busyTimeoutMs: 200 });

describe('backup checked on a worker thread beside the migration', () => {
  it('applies and rolls back with a checked backup, as the inline check does', () => {
    const dbPath = sampleDb({ learnings: 3000 });
    const original = contentHash(dbPath);
    const before = fileSha256(dbPath);

    const up = threaded.up({ dbPath });
    expect(up.status).toBe('applied');
    expect(up.backupPath).not.toBeNull();
    expect(fileSha256(up.backupPath as string)).toBe(up.backupSha256);
    expect(up.backupSha256).toBe(before);

    const down = threaded.down({ dbPath });
    expect(down.status).toBe('rolled-back');
    expect(fileSha256(down.backupPath as string)).toBe(down.backupSha256);
    expect(contentHash(dbPath)).toBe(original);
    expect(filesBeside(dbPath).filter((name) => name.includes('.partial-'))).toEqual([]);
  });

  it('rolls the statements back when the thread finds the database corrupt, and leaves no backup', () => {
    const dbPath = sampleDb({ learnings: 1500 });
    const bytes = fs.readFileSync(dbPath);
    for (let i = Math.floor(bytes.length / 2); i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
    fs.writeFileSync(dbPath, bytes);
    const before = fileSha256(dbPath);

    const result = threaded.up({ dbPath });

    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe(ErrorCode.DB_CORRUPT);
    expect(result.backupPath).toBeNull();
    expect(fileSha256(dbPath)).toBe(before);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('lets a down through when a foreign-key violation was already there before it', () => {
    const dbPath = sampleDb({ learnings: 200 });
    expect(threaded.up({ dbPath }).status).toBe('applied');
    // A user table whose row points at a learning that never existed: the violation predates the down.
    withDb(dbPath, (db) => {
      db.pragma('foreign_keys = OFF');
      db.exec(
        'CREATE TABLE notes (id INTEGER PRIMARY KEY, learning_id INTEGER REFERENCES learning_index(id))',
      );
      db.exec('INSERT INTO notes VALUES (1, 999999)');
    });

    const down = threaded.down({ dbPath });

    expect(down.status).toBe('rolled-back');
    expect(down.verification?.foreignKeyViolations).toBe(0);
    const db = new Database(dbPath, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM notes').pluck().get()).toBe(1);
    db.close();
  });

  it('keeps the checked backup when a statement fails while the check is still running', () => {
    const dbPath = sampleDb({ learnings: 500 });
    // A user's view already has the name of the table 006 creates: CREATE TABLE fails half-way through up.
    withDb(dbPath, (db) => db.exec('CREATE VIEW learning_applications AS SELECT id FROM learning_index'));
    const before = contentHash(dbPath);

    const result = threaded.up({ dbPath });

    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe(ErrorCode.MIGRATION_FAILED);
    expect(contentHash(dbPath)).toBe(before);
    expect(result.backupPath).not.toBeNull();
    expect(fileSha256(result.backupPath as string)).toBe(result.backupSha256);
    expect(result.error?.message).toContain(`Backup: ${result.backupPath}`);
  });

  it('keeps the checked backup when the disk fills up during the statements (only its own writing failing drops it)', () => {
    const dbPath = sampleDb({ learnings: 500 });
    const before = fileSha256(dbPath);
    const diskFillsUp = new Migrator({
      largeDatabaseBytes: 0,
      onProgress: (event) => {
        if (event.type === 'statement')
          throw new MigrationError(ErrorCode.INSUFFICIENT_DISK_SPACE, 'The disk is full.');
      },
    });

    const result = diskFillsUp.up({ dbPath });

    expect(result.error?.code).toBe(ErrorCode.INSUFFICIENT_DISK_SPACE);
    expect(fileSha256(dbPath)).toBe(before);
    expect(result.backupPath).not.toBeNull();
    expect(fileSha256(result.backupPath as string)).toBe(before);
    expect(result.error?.message).toContain(`Backup: ${result.backupPath}`);
  });
});
