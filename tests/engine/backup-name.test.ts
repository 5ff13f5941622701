import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { otherDatabaseOfBackup } from '../../src/engine/backup-name.js';
import { tempDir } from '../helpers/sqlite.js';

describe('otherDatabaseOfBackup', () => {
  const stamp = '20260101T000000000Z';

  it('names the database a backup was taken of when it is not the one given', () => {
    const dir = tempDir();
    for (const kind of ['backup', 'rollback_backup', 'pre_restore_backup']) {
      expect(otherDatabaseOfBackup(path.join(dir, `a.${kind}_${stamp}.db`), [path.join(dir, 'b.db')])).toBe(
        path.join(dir, 'a.db'),
      );
    }
  });

  it("answers null for the database's own backup, under any of its names, and for a name that is no backup's", () => {
    const dir = tempDir();
    const dbPath = path.join(dir, 'documents.db');
    fs.writeFileSync(dbPath, '');
    const link = path.join(tempDir(), 'current.db');
    fs.symlinkSync(dbPath, link);
    const backup = path.join(dir, `documents.backup_${stamp}.db`);
    expect(otherDatabaseOfBackup(backup, [dbPath])).toBeNull();
    expect(otherDatabaseOfBackup(backup, [link])).toBeNull();
    expect(otherDatabaseOfBackup(path.join(dir, 'copy.db'), [dbPath])).toBeNull();
  });

  it('takes a backup of the same file name elsewhere for this database unless another database is beside it', () => {
    const dbPath = path.join(tempDir(), 'documents.db');
    const archive = tempDir();
    const archived = path.join(archive, `documents.backup_${stamp}.db`);
    expect(otherDatabaseOfBackup(archived, [dbPath])).toBeNull();
    fs.writeFileSync(path.join(archive, 'documents.db'), '');
    expect(otherDatabaseOfBackup(archived, [dbPath])).toBe(path.join(archive, 'documents.db'));
  });
});
