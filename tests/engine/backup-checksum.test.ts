import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checksumLine, isBackupChecksumName, readChecksumBeside } from '../../src/engine/backup-checksum.js';
import { tempDir } from '../helpers/sqlite.js';

const HASH = 'ab'.repeat(32);

describe('the checksum beside a backup', () => {
  it('is named <backup>.sha256, for gao-migrate’s backup names only', () => {
    expect(isBackupChecksumName('/p/.gao-dev/documents.backup_20260101T000000000Z.db.sha256')).toBe(true);
    expect(isBackupChecksumName('/p/.gao-dev/documents.rollback_backup_20260101T000000000Z.db.sha256')).toBe(
      true,
    );
    expect(isBackupChecksumName('/p/.gao-dev/documents.db.sha256')).toBe(false);
    expect(isBackupChecksumName('/p/.gao-dev/documents.backup_20260101T000000000Z.db')).toBe(false);
  });

  it('reads back the hash sha256sum writes, and says why one cannot be used', () => {
    const backup = path.join(tempDir(), 'documents.backup_20260101T000000000Z.db');
    const checksum = `${backup}.sha256`;
    expect(readChecksumBeside(backup)).toEqual({ status: 'absent' });

    fs.writeFileSync(checksum, checksumLine(HASH.toUpperCase(), path.basename(backup)));
    expect(readChecksumBeside(backup)).toEqual({ status: 'found', path: checksum, sha256: HASH });

    const unusable = (reason: string) => ({ status: 'unusable', path: checksum, reason });
    fs.writeFileSync(checksum, '');
    expect(readChecksumBeside(backup)).toEqual(
      unusable('is empty (as a crash before its data reached the disk leaves it)'),
    );
    fs.writeFileSync(checksum, `${HASH}  ${'x'.repeat(16 * 1024)}\n`);
    expect(readChecksumBeside(backup)).toEqual(
      unusable('is larger than one checksum line can be, so it is not a checksum file'),
    );
    fs.writeFileSync(checksum, `${HASH.slice(1)}  documents.db\n`);
    expect(readChecksumBeside(backup)).toEqual(
      unusable(
        'does not hold one line "<64 hex digits>  <file name>" (a crash may cut it short, or it is another file)',
      ),
    );
    fs.rmSync(checksum);
    fs.mkdirSync(checksum);
    expect(readChecksumBeside(backup)).toEqual(unusable('is a directory, not a checksum file'));
  });

  it('says what a checksum that is no file is, a crash leaves none so: a link to a directory, a link to nothing', () => {
    const dir = tempDir();
    const backup = path.join(dir, 'documents.backup_20260101T000000000Z.db');
    const checksum = `${backup}.sha256`;
    const unusable = (reason: string) => ({ status: 'unusable', path: checksum, reason });
    fs.symlinkSync(dir, checksum);
    expect(readChecksumBeside(backup)).toEqual(
      unusable('is a symbolic link to a directory, not a checksum file'),
    );
    fs.rmSync(checksum);
    fs.symlinkSync(path.join(dir, 'gone.sha256'), checksum);
    expect(readChecksumBeside(backup)).toEqual(unusable('is a symbolic link that leads to nothing'));
    fs.rmSync(checksum);
    fs.writeFileSync(path.join(dir, 'elsewhere.sha256'), checksumLine(HASH, path.basename(backup)));
    fs.symlinkSync(path.join(dir, 'elsewhere.sha256'), checksum);
    expect(readChecksumBeside(backup)).toEqual({ status: 'found', path: checksum, sha256: HASH });
  });

  it('finds none beside a backup whose name leaves no room for .sha256 (ENAMETOOLONG)', () => {
    expect(readChecksumBeside(path.join(tempDir(), `${'x'.repeat(250)}.db`))).toEqual({ status: 'absent' });
  });
});
