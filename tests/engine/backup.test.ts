import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { backupPathFor } from '../../src/engine/backup.js';
import { checkBackup, inspectDatabaseFile, sha256OfFile } from '../../src/engine/backup-check.js';
import { ErrorCode } from '../../src/engine/errors.js';
import { Migrator } from '../../src/engine/migrator.js';
import { restoreBackup } from '../../src/engine/restore.js';
import {
  contentHash,
  fileSha256,
  filesBeside,
  fixedClock,
  sampleDb,
  tempDir,
  withDb,
} from '../helpers/sqlite.js';

const at = new Date('2026-11-24T10:15:00.123Z');

describe('backups', () => {
  it('names backups <stem>.<kind>_<UTC stamp>.db beside the database', () => {
    expect(backupPathFor('/data/.gao-dev/documents.db', 'backup', at)).toBe(
      '/data/.gao-dev/documents.backup_20261124T101500123Z.db',
    );
    expect(backupPathFor('/data/documents.db', 'rollback_backup', at)).toBe(
      '/data/documents.rollback_backup_20261124T101500123Z.db',
    );
    expect(backupPathFor('/data/noext', 'pre_restore_backup', at)).toBe(
      '/data/noext.pre_restore_backup_20261124T101500123Z.db',
    );
  });

  it('writes a checked backup before up whose sha256 matches and whose content is the pre-migration content', () => {
    const dbPath = sampleDb();
    const hash = contentHash(dbPath);
    const result = new Migrator({ now: fixedClock() }).up({ dbPath });
    expect(result.backupPath).toBe(
      path.join(path.dirname(dbPath), 'documents.backup_20261124T101500123Z.db'),
    );
    expect(result.backupSha256).toBe(fileSha256(result.backupPath as string));
    expect(contentHash(result.backupPath as string)).toBe(hash);
    expect(filesBeside(dbPath)).toEqual([
      'documents.backup_20261124T101500123Z.db',
      'documents.backup_20261124T101500123Z.db.sha256',
      'documents.db',
    ]);
  });

  it('writes a rollback backup before down holding the applied database', () => {
    const dbPath = sampleDb();
    new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
    const hash = contentHash(dbPath);
    const result = new Migrator({ now: fixedClock() }).down({ dbPath });
    expect(result.status).toBe('rolled-back');
    expect(path.basename(result.backupPath as string)).toBe(
      'documents.rollback_backup_20261124T101500123Z.db',
    );
    expect(result.backupSha256).toBe(sha256OfFile(result.backupPath as string));
    expect(contentHash(result.backupPath as string)).toBe(hash);
  });

  it("gives every backup the database's permissions (a private database's backups stay private)", () => {
    const dbPath = sampleDb({ learnings: 200 });
    fs.chmodSync(dbPath, 0o600);
    // A small database is backed up from SQLite's page image, a large one copied: both keep the mode.
    const small = new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
    const large = new Migrator({ now: fixedClock(), largeDatabaseBytes: 1 }).down({ dbPath });
    for (const result of [small, large]) {
      expect(result.ok).toBe(true);
      expect(fs.statSync(result.backupPath as string).mode & 0o777).toBe(0o600);
    }
  });

  it('never overwrites a file with the backup name: BACKUP_EXISTS, both files unchanged', () => {
    const dbPath = sampleDb();
    const taken = path.join(path.dirname(dbPath), 'documents.backup_20261124T101500123Z.db');
    fs.writeFileSync(taken, 'precious');
    const bytes = fileSha256(dbPath);
    const result = new Migrator({ now: fixedClock() }).up({ dbPath });
    expect(result.error?.code).toBe(ErrorCode.BACKUP_EXISTS);
    expect(result.error?.message).toContain('backups are never overwritten');
    expect(result.backupPath).toBeNull();
    expect(fs.readFileSync(taken, 'utf8')).toBe('precious');
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.backup_20261124T101500123Z.db', 'documents.db']);
  });

  it.each([
    ['copy-wal', true, 0],
    ['copy', false, 0],
    ['serialize', true, undefined],
  ] as const)(
    'backs up a WAL database held open by another writer with un-checkpointed writes (%s)',
    (method, readerHoldsSnapshot, largeDatabaseBytes) => {
      const dbPath = sampleDb({ wal: true });
      const writer = new Database(dbPath);
      writer.pragma('wal_autocheckpoint = 0');
      writer.exec(
        "INSERT INTO learning_index (topic, category, learning, indexed_at, created_at) VALUES ('written-in-wal', 'team', 'x', 'a', 'b')",
      );
      expect(fs.statSync(`${dbPath}-wal`).size).toBeGreaterThan(0);
      const reader = new Database(dbPath, { readonly: true });
      if (readerHoldsSnapshot) {
        reader.exec('BEGIN');
        reader.prepare('SELECT count(*) FROM learning_index').get();
      }
      try {
        const methods: string[] = [];
        const result = new Migrator({
          busyTimeoutMs: 100,
          now: fixedClock(),
          // 0: large-database handling (a page copy) for this small one; undefined: its own (SQLite's image).
          ...(largeDatabaseBytes === undefined ? {} : { largeDatabaseBytes }),
          onProgress: (event) => {
            if (event.type === 'backup') methods.push(event.method);
          },
        }).up({ dbPath });
        expect(result.error).toBeNull();
        const backup = result.backupPath as string;
        // Checking the WAL-mode copy opens it; the -wal and -shm files that makes must not be left behind.
        expect(filesBeside(dbPath).filter((name) => name.includes('backup'))).toEqual([
          path.basename(backup),
          `${path.basename(backup)}.sha256`,
        ]);
        expect(methods).toEqual([method]);
        withDb(
          backup,
          (db) => {
            expect(
              db.prepare("SELECT count(*) FROM learning_index WHERE topic = 'written-in-wal'").pluck().get(),
            ).toBe(1);
            expect(db.prepare('PRAGMA quick_check').pluck().get()).toBe('ok');
          },
          true,
        );
        expect(fileSha256(backup)).toBe(result.backupSha256);
      } finally {
        if (readerHoldsSnapshot) reader.exec('ROLLBACK');
        reader.close();
        writer.close();
      }
    },
  );

  it("backs a small database up from SQLite's page image, byte for byte the file", () => {
    const dbPath = sampleDb({ learnings: 300 });
    const before = fileSha256(dbPath);
    const methods: string[] = [];
    const result = new Migrator({
      onProgress: (event) => {
        if (event.type === 'backup') methods.push(event.method);
      },
    }).up({ dbPath });
    expect(methods).toEqual(['serialize']);
    expect(result.backupSha256).toBe(before);
    expect(fileSha256(result.backupPath as string)).toBe(before);
  });

  it('reports the method in the backup progress event', () => {
    const methods: string[] = [];
    const dbPath = sampleDb({ wal: true });
    const result = new Migrator({
      largeDatabaseBytes: 0,
      onProgress: (event) => {
        if (event.type === 'backup') methods.push(`${event.method} ${event.bytes}`);
      },
    }).up({ dbPath });
    expect(methods).toEqual([`copy ${fs.statSync(result.backupPath as string).size}`]);
  });

  it('says why a file is not a usable backup', () => {
    const dir = tempDir();
    const text = path.join(dir, 'text.db');
    fs.writeFileSync(
      text,
      'not sqlite at all, not sqlite at all, not sqlite at all, not sqlite at all, not sqlite at all',
    );
    expect(inspectDatabaseFile(text)).toMatch(/file is not a database/);
    expect(() => checkBackup(text)).toThrow(
      /The backup did not pass its check \(file is not a database\); nothing was changed\./,
    );
    const dbPath = sampleDb();
    expect(inspectDatabaseFile(dbPath)).toBeNull();
    expect(inspectDatabaseFile(dbPath, { pageCount: 1, pageSize: 4096, schemaObjects: 1 })).toMatch(
      /pages of 4096 bytes, expected 1 of 4096/,
    );
    const shape = withDb(dbPath, (db) => ({
      pageCount: Number(db.pragma('page_count', { simple: true })),
      pageSize: Number(db.pragma('page_size', { simple: true })),
      schemaObjects: 1,
    }));
    expect(inspectDatabaseFile(dbPath, shape)).toMatch(/schema objects, expected 1$/);
  });

  it('reports a corrupt page-exact copy as BACKUP_FAILED from checkBackup', () => {
    const dbPath = sampleDb({ learnings: 1500 });
    const bytes = fs.readFileSync(dbPath);
    for (let i = Math.floor(bytes.length / 2); i < bytes.length; i++) bytes[i] = 0x5a;
    fs.writeFileSync(dbPath, bytes);
    expect(() => checkBackup(dbPath)).toThrow(/quick_check reported: /);
  });
  it('writes <backup>.sha256 beside each backup (up, down, restore), as sha256sum writes it, which sha256sum -c passes', () => {
    const dbPath = sampleDb();
    fs.chmodSync(dbPath, 0o640);
    const dir = path.dirname(dbPath);
    const up = new Migrator({ now: fixedClock('2026-01-01T00:00:00.000Z') }).up({ dbPath });
    const down = new Migrator({ now: fixedClock('2026-01-02T00:00:00.000Z') }).down({ dbPath });
    const restored = restoreBackup({ dbPath, from: up.backupPath as string, now: fixedClock() });
    expect([up.error, down.error, restored.error]).toEqual([null, null, null]);
    const backups = [up.backupPath, down.backupPath, restored.backupPath] as string[];
    expect(up.backupSha256).toBe(fileSha256(backups[0] as string));
    expect(down.backupSha256).toBe(fileSha256(backups[1] as string));
    for (const backup of backups) {
      const checksum = `${backup}.sha256`;
      expect(fs.readFileSync(checksum, 'utf8')).toBe(`${fileSha256(backup)}  ${path.basename(backup)}\n`);
      const [made, kept] = [fs.statSync(checksum), fs.statSync(backup)];
      expect([made.mode, made.uid, made.gid]).toEqual([kept.mode, kept.uid, kept.gid]);
      expect(made.mode & 0o777).toBe(0o640);
      expect(execFileSync('sha256sum', ['-c', path.basename(checksum)], { cwd: dir, encoding: 'utf8' })).toBe(
        `${path.basename(backup)}: OK\n`,
      );
    }
    expect(filesBeside(dbPath)).toEqual([
      'documents.backup_20260101T000000000Z.db',
      'documents.backup_20260101T000000000Z.db.sha256',
      'documents.db',
      'documents.pre_restore_backup_20261124T101500123Z.db',
      'documents.pre_restore_backup_20261124T101500123Z.db.sha256',
      'documents.rollback_backup_20260102T000000000Z.db',
      'documents.rollback_backup_20260102T000000000Z.db.sha256',
    ]);
  });

  it('escapes a backslash and a newline in the name as sha256sum does, so sha256sum -c reads it back', () => {
    const dbPath = path.join(path.dirname(sampleDb()), 'a\\b\nc.db');
    fs.renameSync(path.join(path.dirname(dbPath), 'documents.db'), dbPath);
    const up = new Migrator({ now: fixedClock() }).up({ dbPath });
    const backup = up.backupPath as string;
    expect(path.basename(backup)).toBe('a\\b\nc.backup_20261124T101500123Z.db');
    expect(fs.readFileSync(`${backup}.sha256`, 'utf8')).toBe(
      `\\${up.backupSha256}  a\\\\b\\nc.backup_20261124T101500123Z.db\n`,
    );
    execFileSync('sha256sum', ['--status', '-c', path.basename(`${backup}.sha256`)], {
      cwd: path.dirname(dbPath),
    });
  });

  it('keeps a checksum beside the byte copy of a damaged file a restore replaces', () => {
    const dbPath = sampleDb();
    fs.writeFileSync(dbPath, 'not a database');
    const result = restoreBackup({ dbPath, from: sampleDb({ seed: 2 }), now: fixedClock() });
    expect(result).toMatchObject({ ok: true, status: 'restored' });
    const kept = result.backupPath as string;
    expect(fs.readFileSync(`${kept}.sha256`, 'utf8')).toBe(`${fileSha256(kept)}  ${path.basename(kept)}\n`);
  });

  it("refuses with BACKUP_EXISTS when the name of the backup's checksum is taken, writing nothing", () => {
    const dbPath = sampleDb();
    const taken = `${backupPathFor(dbPath, 'backup', at)}.sha256`;
    fs.writeFileSync(taken, 'not ours\n');
    const bytes = fileSha256(dbPath);
    const result = new Migrator({ now: fixedClock() }).up({ dbPath });
    expect(result).toMatchObject({ ok: false, status: 'failed', backupPath: null });
    expect(result.error?.code).toBe(ErrorCode.BACKUP_EXISTS);
    expect(result.error?.message).toBe(
      `A file named ${taken} already exists; backups are never overwritten, so nothing was changed.`,
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(fs.readFileSync(taken, 'utf8')).toBe('not ours\n');
    expect(filesBeside(dbPath)).toEqual(['documents.backup_20261124T101500123Z.db.sha256', 'documents.db']);
  });
});
