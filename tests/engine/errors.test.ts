import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  isMigrationError,
  isSqliteBusy,
  MigrationError,
  messageOf,
  RETRYABLE_CODES,
  toMigrationError,
} from '../../src/engine/errors.js';

function sqliteError(code: string, message = 'boom'): Error {
  return Object.assign(new Error(message), { code });
}

describe('errors', () => {
  it('keeps every code equal to its name, so scripts can rely on the strings', () => {
    for (const [name, value] of Object.entries(ErrorCode)) expect(value).toBe(name);
    expect([...RETRYABLE_CODES].sort()).toEqual(['DB_CHANGED', 'DB_LOCKED', 'IO_ERROR']);
  });

  it('marks only retryable codes as retryable', () => {
    expect(new MigrationError(ErrorCode.DB_LOCKED, 'x').retryable).toBe(true);
    expect(new MigrationError(ErrorCode.DB_CORRUPT, 'x').retryable).toBe(false);
    expect(isMigrationError(new MigrationError(ErrorCode.DB_CORRUPT, 'x'))).toBe(true);
    expect(isMigrationError(new Error('x'))).toBe(false);
  });

  it.each([
    ['SQLITE_BUSY', ErrorCode.DB_LOCKED, 'ctx: the database is locked by another process.'],
    ['SQLITE_LOCKED_SHAREDCACHE', ErrorCode.DB_LOCKED, 'ctx: the database is locked by another process.'],
    ['SQLITE_READONLY', ErrorCode.DB_READONLY, 'ctx: boom.'],
    ['SQLITE_CANTOPEN', ErrorCode.DB_READONLY, 'ctx: boom.'],
    ['SQLITE_FULL', ErrorCode.INSUFFICIENT_DISK_SPACE, 'ctx: the disk is full.'],
    ['ENOSPC', ErrorCode.INSUFFICIENT_DISK_SPACE, 'ctx: the disk is full.'],
    ['SQLITE_CORRUPT', ErrorCode.DB_CORRUPT, 'ctx: boom.'],
    ['SQLITE_NOTADB', ErrorCode.DB_CORRUPT, 'ctx: boom.'],
    ['SQLITE_IOERR_SHORT_READ', ErrorCode.IO_ERROR, 'ctx: boom.'],
    ['SQLITE_ERROR', ErrorCode.MIGRATION_FAILED, 'ctx: boom.'],
  ])('maps %s to %s with one sentence', (code, expected, message) => {
    const error = toMigrationError(sqliteError(code), ErrorCode.MIGRATION_FAILED, 'ctx');
    expect(error.code).toBe(expected);
    expect(error.message).toBe(message);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('keeps an error that already has a code, and words thrown non-errors', () => {
    const original = new MigrationError(ErrorCode.SCHEMA_DRIFT, 'drift');
    expect(toMigrationError(original, ErrorCode.IO_ERROR, 'ctx')).toBe(original);
    expect(toMigrationError('plain text.', ErrorCode.IO_ERROR, 'ctx').message).toBe('ctx: plain text.');
    expect(toMigrationError(null, ErrorCode.IO_ERROR, 'ctx').code).toBe(ErrorCode.IO_ERROR);
    expect(isSqliteBusy(null)).toBe(false);
    expect(messageOf(new Error('ends with dots...  '))).toBe('ends with dots');
  });
});
