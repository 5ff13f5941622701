import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/engine/errors.js';
import {
  assertDatabaseFile,
  assertFreeSpace,
  assertQuickCheck,
  assertSameFile,
  formatBytes,
  openDatabase,
  summarizeCheck,
} from '../../src/engine/preconditions.js';
import { sampleDb, tempDir } from '../helpers/sqlite.js';

describe('preconditions', () => {
  it('returns the identity of a database file and notices it being replaced', () => {
    const dbPath = sampleDb();
    const identity = assertDatabaseFile(dbPath);
    expect(identity.size).toBe(fs.statSync(dbPath).size);
    expect(() => assertSameFile(dbPath, identity)).not.toThrow();
    const copy = `${dbPath}.copy`;
    fs.copyFileSync(dbPath, copy);
    fs.renameSync(copy, dbPath);
    expect(() => assertSameFile(dbPath, identity)).toThrow(
      expect.objectContaining({ code: ErrorCode.DB_CHANGED }),
    );
    fs.rmSync(dbPath);
    expect(() => assertSameFile(dbPath, identity)).toThrow(/was replaced by another file/);
  });

  it('refuses a path that is too long with INVALID_INPUT', () => {
    expect(() => assertDatabaseFile(path.join(tempDir(), 'x'.repeat(5000)))).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_INPUT }),
    );
  });

  it('says where a symbolic link to nothing leads, with DB_NOT_FOUND', () => {
    const dir = tempDir();
    const link = path.join(dir, 'documents.db');
    fs.symlinkSync(path.join(dir, 'moved', 'documents.db'), link);
    expect(() => assertDatabaseFile(link)).toThrow(
      expect.objectContaining({
        code: ErrorCode.DB_NOT_FOUND,
        message: `No database at ${link}: it is a symbolic link to ${path.join(dir, 'moved', 'documents.db')}, where there is no file.`,
      }),
    );
  });

  it('speaks of the backup, not of a database, where the path was given as a backup', () => {
    const dir = tempDir();
    const gone = path.join(dir, 'documents.backup_20260101T000000000Z.db');
    expect(() => assertDatabaseFile(gone, 'backup')).toThrow(
      expect.objectContaining({
        code: ErrorCode.DB_NOT_FOUND,
        message: `No backup at ${gone}: the file does not exist.`,
      }),
    );
    expect(() => assertDatabaseFile(path.join(dir, 'x'.repeat(300)), 'backup')).toThrow(
      expect.objectContaining({
        code: ErrorCode.INVALID_INPUT,
        message: 'The backup path is too long for this file system.',
      }),
    );
    expect(() => assertDatabaseFile('/dev/null', 'backup')).toThrow(
      expect.objectContaining({
        message:
          '/dev/null is a character device, not a regular file, so it cannot be a SQLite database: give the path of the backup file.',
      }),
    );
  });

  it('refuses what is not a regular file with NOT_A_DATABASE, saying what it is, without opening it', () => {
    const fifo = path.join(tempDir(), 'pipe.db');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // Opening the pipe would wait for a writer for ever: this returns at once.
    for (const [given, kind] of [
      ['/dev/null', 'a character device'],
      [fifo, 'a pipe (FIFO)'],
    ]) {
      expect(() => assertDatabaseFile(given as string)).toThrow(
        expect.objectContaining({
          code: ErrorCode.NOT_A_DATABASE,
          message: `${given} is ${kind}, not a regular file, so it cannot be a SQLite database: give the path of the database file.`,
        }),
      );
    }
  });

  it('names a socket for what it is, without opening it', async () => {
    const socketPath = path.join(tempDir(), 'socket.db');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      expect(() => assertDatabaseFile(socketPath)).toThrow(
        expect.objectContaining({
          code: ErrorCode.NOT_A_DATABASE,
          message: `${socketPath} is a socket, not a regular file, so it cannot be a SQLite database: give the path of the database file.`,
        }),
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never creates a database when opening', () => {
    const missing = path.join(tempDir(), 'missing.db');
    expect(() => openDatabase(missing, { readonly: false, busyTimeoutMs: 0 })).toThrow(/Cannot open/);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('passes quick_check on a sound database', () => {
    const db = openDatabase(sampleDb(), { readonly: true, busyTimeoutMs: 0 });
    try {
      expect(() => assertQuickCheck(db, 'x')).not.toThrow();
    } finally {
      db.close();
    }
  });

  it('fails with IO_ERROR when the free space cannot be read', () => {
    expect(() => assertFreeSpace(path.join(tempDir(), 'gone', 'documents.db'), 0, 'a test')).toThrow(
      expect.objectContaining({ code: ErrorCode.IO_ERROR }),
    );
  });

  it('summarises a long check report to its first problem', () => {
    expect(summarizeCheck('ok')).toBe('ok');
    expect(summarizeCheck('*** in database main ***\nPage 5: bad\nPage 6: bad\n')).toBe(
      'Page 5: bad, and 1 more problem(s)',
    );
    expect(summarizeCheck('row 3 missing from index x')).toBe('row 3 missing from index x');
  });

  it('formats byte counts for people', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(formatBytes(3 * 1024 ** 5)).toBe('3072.0 TiB');
  });
});
