import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/exit-codes.js';
import { collectDatabases } from '../../src/cli/targets.js';
import { tempDir } from '../queue/helpers.js';

let dir: string;

/** Empty files are enough: targets are collected by name, never opened. */
function touch(...names: string[]): string[] {
  return names.map((name) => {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '');
    return file;
  });
}

/** A glob under the test's directory. */
const under = (pattern: string) => path.join(dir, pattern);

beforeEach(() => {
  dir = fs.realpathSync(tempDir('gao-migrate-targets-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('collectDatabases', () => {
  it('leaves out of a glob every file named as a backup, each once, under any of its three names', async () => {
    const [a, b] = touch('a/.gao-dev/documents.db', 'b/.gao-dev/documents.db');
    const backups = touch(
      'a/.gao-dev/documents.backup_20261124T101500123Z.db',
      'a/.gao-dev/documents.rollback_backup_20261124T101500123Z.db',
      'b/.gao-dev/documents.pre_restore_backup_20261124T101500123Z.db',
    );
    // Not named as gao-migrate names its backups (no full timestamp): a database like any other.
    const [lookalike] = touch('b/.gao-dev/documents.backup_1.db');
    const targets = await collectDatabases('up', {
      glob: [under('*/.gao-dev/*.db'), under('**/documents.*_backup_*.db')],
    });
    expect(targets).toEqual({ databases: [a, b, lookalike].sort(), leftOutBackups: backups.sort() });
  });

  it('leaves out a link a glob matches that leads to a backup, as the engine would refuse it', async () => {
    const [database, backup] = touch(
      'a/.gao-dev/documents.db',
      'a/.gao-dev/documents.backup_20261124T101500123Z.db',
    ) as [string, string];
    const link = path.join(dir, 'links', 'old.db');
    fs.mkdirSync(path.dirname(link));
    fs.symlinkSync(backup, link);
    const targets = await collectDatabases('verify', {
      glob: [under('links/*.db'), under('a/.gao-dev/documents.db')],
    });
    expect(targets).toEqual({ databases: [database], leftOutBackups: [link] });
  });

  it('reads a list whose only comments are whole lines: a # inside a path is part of it', async () => {
    const [csharp, numbered, plain] = touch(
      'C#-tools/.gao-dev/documents.db',
      'Project #2/.gao-dev/documents.db',
      'plain/.gao-dev/documents.db',
    ) as [string, string, string];
    const list = path.join(dir, 'list.txt');
    // As Notepad saves it (a byte-order mark, CRLF), with comments, an indented one and blank lines.
    fs.writeFileSync(
      list,
      `\uFEFF# projects\r\n${csharp}\r\n\r\n   # ${plain} is left out here\r\n${numbered}\r\n#${plain}\r\n`,
    );
    expect(await collectDatabases('up', { fromFile: [list] })).toEqual({
      databases: [csharp, numbered],
      leftOutBackups: [],
    });
  });

  it('takes a backup given by name for verify, and then does not count it as left out', async () => {
    const [database, backup] = touch(
      'a/.gao-dev/documents.db',
      'a/.gao-dev/documents.backup_20261124T101500123Z.db',
    ) as [string, string];
    const list = path.join(dir, 'list.txt');
    fs.writeFileSync(list, `${backup}\n`);
    const glob = [under('a/.gao-dev/*.db')];
    // In the order given: --db, then --glob, then --from-file.
    expect(await collectDatabases('verify', { db: [backup], glob })).toEqual({
      databases: [backup, database],
      leftOutBackups: [],
    });
    expect(await collectDatabases('verify', { glob, fromFile: [list] })).toEqual({
      databases: [database, backup],
      leftOutBackups: [],
    });
  });

  it.each(['up', 'down'] as const)(
    'refuses a backup given by name for %s, also through a link',
    async (op) => {
      const [, backup] = touch(
        'a/.gao-dev/documents.db',
        'a/.gao-dev/documents.rollback_backup_20261124T101500123Z.db',
      );
      const link = path.join(dir, 'old.db');
      fs.symlinkSync(backup as string, link);
      for (const given of [backup as string, link]) {
        const refused = collectDatabases(op, { db: [given] });
        await expect(refused).rejects.toThrow(UsageError);
        await expect(refused).rejects.toMatchObject({
          code: 'DB_IS_BACKUP',
          message: expect.stringMatching(
            `^${backup} is a backup gao-migrate made, .* \`gao-migrate restore --db ${path.join(dir, 'a/.gao-dev/documents.db')} --from ${backup}\`; nothing was changed\\.$`,
          ),
        });
      }
    },
  );

  it('says so when a glob matched only backups', async () => {
    touch(
      'a/.gao-dev/documents.backup_20261124T101500123Z.db',
      'a/.gao-dev/documents.rollback_backup_20261124T101500123Z.db',
    );
    await expect(collectDatabases('up', { glob: [under('*/.gao-dev/*.db')] })).rejects.toThrow(
      'No databases given: use --db, --glob or --from-file (a glob that matched nothing counts as none; the 2 files --glob matched are named as gao-migrate backups, which a glob leaves out).',
    );
  });
  it("leaves out the .sha256 beside each backup that a glob such as '*/.gao-dev/*' matches, and says what they are", async () => {
    const [db, backup, checksum] = touch(
      'a/.gao-dev/documents.db',
      'a/.gao-dev/documents.backup_20261124T101500123Z.db',
      'a/.gao-dev/documents.backup_20261124T101500123Z.db.sha256',
    );
    const { databases, leftOutBackups } = await collectDatabases('up', { glob: [under('*/.gao-dev/*')] });
    expect(databases).toEqual([db]);
    expect(leftOutBackups).toEqual([backup, checksum]);
    fs.rmSync(db as string);
    fs.rmSync(backup as string);
    await expect(collectDatabases('up', { glob: [under('**/*')] })).rejects.toThrow(
      "No databases given: use --db, --glob or --from-file (a glob that matched nothing counts as none; the one file --glob matched is named as a gao-migrate backup's .sha256 checksum, which a glob leaves out).",
    );
  });
});
