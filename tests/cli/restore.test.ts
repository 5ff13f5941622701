import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { printable } from '../../src/queue/printable.js';
import { acquireFileLock } from '../../src/worker/file-lock.js';
import { CLI_BIN, jsonOf, runCli } from '../helpers/cli.js';
import { runCliAsync, startCli } from '../helpers/cli-async.js';
import {
  changeFourBytesInARecord,
  contentHash,
  fileSha256,
  filesBeside,
  sampleDb,
  tempDir,
} from '../helpers/sqlite.js';
import { holdSqliteLock, waitFor } from '../queue/helpers.js';

describe('gao-migrate restore', () => {
  it('restores the content of a backup and keeps the current file as a pre_restore_backup', () => {
    const dbPath = sampleDb();
    const original = contentHash(dbPath);
    const up = jsonOf(runCli(['up', '--db', dbPath, '--json']));
    const applied = contentHash(dbPath);
    const run = runCli(['restore', '--db', dbPath, '--from', up.backupPath as string, '--json']);
    expect(run.status).toBe(0);
    const result = jsonOf(run);
    expect(result).toMatchObject({ ok: true, op: 'restore', status: 'restored', db: dbPath, error: null });
    expect(result.backupPath).toMatch(/documents\.pre_restore_backup_\d{8}T\d{9}Z\.db$/);
    expect(contentHash(dbPath)).toBe(original);
    expect(contentHash(result.backupPath as string)).toBe(applied);
  });

  it('refuses --db and --from given the other way round (DB_IS_BACKUP), in text and --json, dry runs too, changing nothing', () => {
    const dbPath = sampleDb();
    const up = jsonOf(runCli(['up', '--db', dbPath, '--json']));
    const backup = up.backupPath as string;
    const hashes = [fileSha256(dbPath), fileSha256(backup)];
    const listing = filesBeside(dbPath);
    for (const extra of [[], ['--dry-run']]) {
      const text = runCli(['restore', '--db', backup, '--from', dbPath, ...extra]);
      expect(text.status).toBe(2);
      expect(text.stdout.trim()).toBe(
        `Error DB_IS_BACKUP: --db ${backup} is a backup gao-migrate made, which a restore would replace: give the database to --db and the backup to --from (to put this backup back, \`gao-migrate restore --db ${dbPath} --from ${backup}\`); nothing was changed.`,
      );
      const json = runCli(['restore', '--db', backup, '--from', dbPath, '--json', ...extra]);
      expect(json.status).toBe(2);
      expect(jsonOf(json)).toMatchObject({
        ok: false,
        status: 'failed',
        backupPath: null,
        error: { code: 'DB_IS_BACKUP', retryable: false },
      });
    }
    expect([fileSha256(dbPath), fileSha256(backup)]).toEqual(hashes);
    expect(filesBeside(dbPath)).toEqual(listing);
  });

  it('warns in one line on stderr when the backup is named for another database, and restores it all the same', () => {
    const dbPath = sampleDb();
    const dir = path.dirname(dbPath);
    // Named for a database called "old<ESC>[2Jname.db": the line shows it escaped, not as a terminal command.
    const backup = path.join(dir, 'old\u001b[2Jname.backup_20260101T000000000Z.db');
    fs.copyFileSync(sampleDb({ seed: 2 }), backup);
    const warning = `gao-migrate: warning: ${printable(backup)} is named as a backup of ${printable(path.join(dir, 'old\u001b[2Jname.db'))}, not of ${dbPath}; going on (a database may have been renamed or moved): make sure it is the backup you mean.\n`;
    const silent = { env: { GAO_MIGRATE_LOG_LEVEL: 'silent' } };

    const dryRun = runCli(['restore', '--db', dbPath, '--from', backup, '--dry-run'], silent);
    expect(dryRun.status).toBe(0);
    expect(dryRun.stderr).toBe(warning);
    expect(dryRun.stdout).toMatch(/^Would restore /);

    // --json: stdout is the one result object, as without the warning; stderr has it beside the log lines.
    const json = runCli(['restore', '--db', dbPath, '--from', backup, '--json']);
    expect(json.status).toBe(0);
    expect(jsonOf(json)).toMatchObject({ ok: true, status: 'restored', restoredFrom: backup });
    expect(json.stdout).not.toContain('warning');
    expect(json.stderr.split('\n').filter((line) => line.startsWith('gao-migrate:'))).toEqual([
      warning.trim(),
    ]);
    expect(contentHash(dbPath)).toBe(contentHash(backup));
  });

  it("says nothing of the backup's name when it is this database's, even moved to another directory", () => {
    const dbPath = sampleDb();
    const up = jsonOf(runCli(['up', '--db', dbPath, '--json']));
    const archived = path.join(tempDir(), path.basename(up.backupPath as string));
    fs.copyFileSync(up.backupPath as string, archived);
    const silent = { env: { GAO_MIGRATE_LOG_LEVEL: 'silent' } };
    for (const from of [up.backupPath as string, archived]) {
      const run = runCli(['restore', '--db', dbPath, '--from', from], silent);
      expect(run.status, from).toBe(0);
      expect(run.stderr, from).toBe('');
    }
  });

  it("warns when the backup lies beside another database of the same name (another project's)", () => {
    const dbPath = sampleDb();
    const other = sampleDb({ seed: 2 });
    const up = jsonOf(runCli(['up', '--db', other, '--json']));
    const run = runCli(['restore', '--db', dbPath, '--from', up.backupPath as string, '--dry-run'], {
      env: { GAO_MIGRATE_LOG_LEVEL: 'silent' },
    });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe(
      `gao-migrate: warning: ${up.backupPath} is named as a backup of ${other}, not of ${dbPath}; going on (a database may have been renamed or moved): make sure it is the backup you mean.\n`,
    );
  });

  it('refuses a --db in a directory that is not there in one sentence, before any warning about the backup', () => {
    const other = sampleDb();
    const up = jsonOf(runCli(['up', '--db', other, '--json']));
    const dbPath = path.join(path.dirname(other), 'gone', 'documents.db');
    const run = runCli(['restore', '--db', dbPath, '--from', up.backupPath as string], {
      env: { GAO_MIGRATE_LOG_LEVEL: 'silent' },
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(
      `Error DB_NOT_FOUND: The directory ${path.dirname(dbPath)} does not exist, so there is no documents.db to put a file in place of; nothing was changed.\n`,
    );
    expect(fs.existsSync(path.dirname(dbPath))).toBe(false);
  });

  it('says where the kept file is in its text output', () => {
    const dbPath = sampleDb();
    const backup = path.join(path.dirname(dbPath), 'copy.db');
    fs.copyFileSync(dbPath, backup);
    const run = runCli(['restore', '--db', dbPath, '--from', backup]);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^Restored .*documents\.db from .*copy\.db\nThe file that was in place is kept at .*pre_restore_backup_.*\.db\n$/,
    );
  });

  it('restores over a file that is not a database, keeping it and saying what was wrong with it', () => {
    const dbPath = sampleDb();
    const backup = path.join(path.dirname(dbPath), 'copy.db');
    fs.copyFileSync(dbPath, backup);
    fs.writeFileSync(dbPath, 'overwritten by a broken sync tool\n');
    const run = runCli(['restore', '--db', dbPath, '--from', backup]);
    expect(run.status).toBe(0);
    const kept = /kept at (.*pre_restore_backup_.*\.db)\n/.exec(run.stdout)?.[1] as string;
    expect(fs.readFileSync(kept, 'utf8')).toBe('overwritten by a broken sync tool\n');
    expect(run.stdout).toContain(
      `It was not a sound database (NOT_A_DATABASE: ${dbPath} is not a SQLite database.), so it is kept byte for byte`,
    );
    expect(fileSha256(dbPath)).toBe(fileSha256(backup));
  });

  it('keeps its <db>.lock alive while the restore is held up, so a worker with a 2 s stale threshold cannot take it', async () => {
    const dbPath = sampleDb();
    const backup = path.join(path.dirname(dbPath), 'copy.db');
    fs.copyFileSync(dbPath, backup);
    // Another process holds the database: the restore waits in SQLite (its busy timeout) with the lock taken.
    const holder = await holdSqliteLock(dbPath);
    const restore = spawn(
      process.execPath,
      [CLI_BIN, 'restore', '--db', dbPath, '--from', backup, '--json'],
      {
        env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'silent' },
      },
    );
    const exited = once(restore, 'exit');
    try {
      await waitFor(() => fs.existsSync(`${dbPath}.lock`), 'the restore to take <db>.lock');
      // Longer than a 2 s stale threshold: only a lock refreshed meanwhile still looks alive.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await expect(acquireFileLock(dbPath, { timeoutMs: 0, staleMs: 2_000 })).rejects.toMatchObject({
        code: 'FILE_LOCK_HELD',
      });
    } finally {
      await holder.release();
      await exited;
    }
  });

  it('waits for the <db>.lock a worker holds while it migrates, then refuses with FILE_LOCK_HELD', async () => {
    const dbPath = sampleDb();
    const backup = path.join(path.dirname(dbPath), 'copy.db');
    fs.copyFileSync(dbPath, backup);
    fs.writeFileSync(dbPath, 'being migrated, as far as the lock says');
    const lock = await acquireFileLock(dbPath);
    try {
      const run = runCli(['restore', '--db', dbPath, '--from', backup, '--lock-timeout', '200', '--json']);
      expect(run.status).toBe(2);
      expect(jsonOf(run)).toMatchObject({ ok: false, error: { code: 'FILE_LOCK_HELD' } });
      expect(fs.readFileSync(dbPath, 'utf8')).toBe('being migrated, as far as the lock says');
      expect(filesBeside(dbPath)).toEqual(['copy.db', 'documents.db', 'documents.db.lock']);
    } finally {
      await lock.release();
    }
    expect(runCli(['restore', '--db', dbPath, '--from', backup]).status).toBe(0);
    expect(fs.existsSync(`${dbPath}.lock`)).toBe(false);
  });

  it('refuses a wrong --from at once while a worker holds <db>.lock, leaving the files and the lock as they were', async () => {
    const dbPath = sampleDb();
    const dir = path.dirname(dbPath);
    fs.mkdirSync(path.join(dir, 'a-directory'));
    const bytes = fileSha256(dbPath);
    const lock = await acquireFileLock(dbPath);
    try {
      const listing = filesBeside(dbPath);
      const wrong: [string, string][] = [
        [
          path.join(dir, 'missing.db'),
          `No backup at ${path.join(dir, 'missing.db')}: the file does not exist; nothing was changed.`,
        ],
        [
          path.join(dir, 'a-directory'),
          `The backup cannot be restored: ${path.join(dir, 'a-directory')} is a directory, not a backup file: give the path of the backup file. Nothing was changed.`,
        ],
        [
          `${dbPath}.lock`,
          `The backup cannot be restored: ${dbPath}.lock is the lock of ${dbPath} (the directory gao-migrate and its workers hold while they change the database), not a backup. Nothing was changed.`,
        ],
      ];
      for (const [from, message] of wrong) {
        // Far longer than the test may take: only an answer given without waiting for the lock comes in time.
        const run = await runCliAsync([
          'restore',
          '--db',
          dbPath,
          '--from',
          from,
          '--lock-timeout',
          '3600000',
          '--json',
        ]);
        expect(run.code, from).toBe(2);
        expect((JSON.parse(run.stdout) as { error: unknown }).error, from).toEqual({
          code: 'BACKUP_INVALID',
          message,
          retryable: false,
        });
        expect(filesBeside(dbPath), from).toEqual(listing);
      }
      expect(fileSha256(dbPath)).toBe(bytes);
      // Still this test's lock, alive: another taker is refused.
      await expect(acquireFileLock(dbPath, { timeoutMs: 0 })).rejects.toMatchObject({
        code: 'FILE_LOCK_HELD',
      });
    } finally {
      await lock.release();
    }
    expect(fs.existsSync(`${dbPath}.lock`)).toBe(false);
  });

  it('says there is no backup at a --from that is not there, in text and --json, changing nothing', () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    const missing = path.join(path.dirname(dbPath), 'documents.backup_20260101T000000000Z.db');
    const sentence = `No backup at ${missing}: the file does not exist; nothing was changed.`;
    const text = runCli(['restore', '--db', dbPath, '--from', missing]);
    expect(text.status).toBe(2);
    expect(text.stdout).toBe(`Error BACKUP_INVALID: ${sentence}\n`);
    const json = runCli(['restore', '--db', dbPath, '--from', missing, '--json']);
    expect(json.status).toBe(2);
    expect(jsonOf(json)).toMatchObject({
      ok: false,
      status: 'failed',
      restoredFrom: missing,
      error: { code: 'BACKUP_INVALID', message: sentence, retryable: false },
    });
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('says a --from too long for the file system is a backup path, not a database path, changing nothing', () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    const tooLong = path.join(path.dirname(dbPath), `${'x'.repeat(300)}.db`);
    const run = runCli(['restore', '--db', dbPath, '--from', tooLong]);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe(
      'Error BACKUP_INVALID: The backup path is too long for this file system; nothing was changed.\n',
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('refuses --from <db>.lock with no lock held, and leaves no lock behind', () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    const run = runCli(['restore', '--db', dbPath, '--from', `${dbPath}.lock`]);
    expect(run.status).toBe(2);
    expect(run.stdout).toMatch(
      /^Error BACKUP_INVALID: The backup cannot be restored: .*documents\.db\.lock is the lock of /,
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it("refuses a project's directory given as --from as a directory, without pointing at its database as the backup", () => {
    const dbPath = sampleDb();
    const bytes = fileSha256(dbPath);
    // Another project's root: --db's hint (its database is <dir>/.gao-dev/documents.db) would name a database here.
    const project = tempDir();
    fs.mkdirSync(path.join(project, '.gao-dev'));
    fs.copyFileSync(dbPath, path.join(project, '.gao-dev', 'documents.db'));
    const run = runCli(['restore', '--db', dbPath, '--from', project]);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe(
      `Error BACKUP_INVALID: The backup cannot be restored: ${project} is a directory, not a backup file: give the path of the backup file. Nothing was changed.\n`,
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db']);
  });

  it('refuses at once with FILE_LOCK_BLOCKED when a file is in the way of <db>.lock, changing nothing', () => {
    const dbPath = sampleDb();
    const backup = path.join(path.dirname(dbPath), 'copy.db');
    fs.copyFileSync(dbPath, backup);
    const bytes = fileSha256(dbPath);
    fs.writeFileSync(`${dbPath}.lock`, 'not a lock');
    const run = runCli(['restore', '--db', dbPath, '--from', backup]);
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe(
      `gao-migrate: ${dbPath}.lock is in the way of the file lock: it is a file, not the lock directory workers create, so no worker will remove it. Remove it if no other program uses it; nothing was changed. (FILE_LOCK_BLOCKED)`,
    );
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['copy.db', 'documents.db', 'documents.db.lock']);
  });

  it('with --dry-run says what it would do and writes nothing, not even the lock', () => {
    const dbPath = sampleDb();
    const backup = path.join(path.dirname(dbPath), 'copy.db');
    fs.copyFileSync(dbPath, backup);
    fs.writeFileSync(dbPath, 'overwritten by a broken sync tool\n');
    const run = runCli(['restore', '--db', dbPath, '--from', backup, '--dry-run']);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^Would restore .*documents\.db from .*copy\.db \(dry run: the backup passed its check; nothing was written\)\.\nThe file that was in place would be kept at .*pre_restore_backup_.*\.db\nIt is not a sound database \(NOT_A_DATABASE: .*\), so it would be kept byte for byte/,
    );
    expect(fs.readFileSync(dbPath, 'utf8')).toBe('overwritten by a broken sync tool\n');
    expect(filesBeside(dbPath)).toEqual(['copy.db', 'documents.db']);
  });

  it.each([
    [['--db', '', '--from', 'BACKUP'], '--db is empty: give the database file to replace.'],
    [['--db', 'DB', '--from', ''], '--from is empty: give the backup file to restore.'],
    [['--db', 'DB', '--from', '', '--dry-run'], '--from is empty: give the backup file to restore.'],
  ])('refuses an empty path %j with INVALID_INPUT, changing nothing', (args, message) => {
    const dbPath = sampleDb();
    const backup = path.join(path.dirname(dbPath), 'copy.db');
    fs.copyFileSync(dbPath, backup);
    const before = fileSha256(dbPath);
    const given = args.map((arg) => (arg === 'DB' ? dbPath : arg === 'BACKUP' ? backup : arg));
    const run = runCli(['restore', ...given, '--json'], { cwd: path.dirname(dbPath) });
    expect(run.status).toBe(2);
    expect(jsonOf(run)).toEqual({ ok: false, error: { code: 'INVALID_INPUT', message, retryable: false } });
    expect(fileSha256(dbPath)).toBe(before);
    expect(filesBeside(dbPath)).toEqual(['copy.db', 'documents.db']);
  });

  it('refuses a backup that is not a database with BACKUP_INVALID and exit 2, changing nothing', () => {
    const dbPath = sampleDb();
    const text = path.join(path.dirname(dbPath), 'notes.txt');
    fs.writeFileSync(text, 'not a backup');
    const bytes = fileSha256(dbPath);
    for (const json of [true, false]) {
      const run = runCli(['restore', '--db', dbPath, '--from', text, ...(json ? ['--json'] : [])]);
      expect(run.status).toBe(2);
      if (json)
        expect(jsonOf(run)).toMatchObject({ ok: false, status: 'failed', error: { code: 'BACKUP_INVALID' } });
      else expect(run.stdout).toMatch(/^Error BACKUP_INVALID: The backup cannot be restored: /);
    }
    expect(fileSha256(dbPath)).toBe(bytes);
    expect(filesBeside(dbPath)).toEqual(['documents.db', 'notes.txt']);
  });
  it("refuses a backup whose bytes changed since it was taken (4 bytes inside a record, which SQLite's checks pass) with BACKUP_INVALID and exit 2, dry runs too, changing nothing", () => {
    const dbPath = sampleDb();
    const up = jsonOf(runCli(['up', '--db', dbPath, '--json']));
    const backup = up.backupPath as string;
    changeFourBytesInARecord(backup);
    const actual = fileSha256(backup);
    const bytes = [fileSha256(dbPath), actual];
    const listing = filesBeside(dbPath);
    const sentence = `The backup ${backup} is not the file that was written when it was taken: its SHA-256 is ${actual}, not the ${up.backupSha256} that ${path.basename(backup)}.sha256 beside it records, so its bytes changed since; nothing was changed (if they were changed on purpose, remove ${backup}.sha256 and restore again).`;
    for (const extra of [[], ['--dry-run']]) {
      const text = runCli(['restore', '--db', dbPath, '--from', backup, ...extra]);
      expect(text.status).toBe(2);
      expect(text.stdout).toBe(`Error BACKUP_INVALID: ${sentence}\n`);
      const json = runCli(['restore', '--db', dbPath, '--from', backup, '--json', ...extra]);
      expect(json.status).toBe(2);
      expect(jsonOf(json)).toMatchObject({
        ok: false,
        status: 'failed',
        backupPath: null,
        error: { code: 'BACKUP_INVALID', message: sentence, retryable: false },
      });
    }
    expect([fileSha256(dbPath), fileSha256(backup)]).toEqual(bytes);
    expect(filesBeside(dbPath)).toEqual(listing);
  });

  it('restores a backup whose checksum is empty (a crash), with one warning on stderr, --json valid', () => {
    const dbPath = sampleDb();
    const up = jsonOf(runCli(['up', '--db', dbPath, '--json']));
    const backup = up.backupPath as string;
    fs.writeFileSync(`${backup}.sha256`, '');
    const original = contentHash(backup);
    const warning = `gao-migrate: warning: The checksum ${backup}.sha256 beside the backup is empty (as a crash before its data reached the disk leaves it), so the backup's bytes were not compared with it; going on with SQLite's checks alone.`;
    const silent = { env: { GAO_MIGRATE_LOG_LEVEL: 'silent' } };

    const dryRun = runCli(['restore', '--db', dbPath, '--from', backup, '--dry-run'], silent);
    expect(dryRun.status).toBe(0);
    expect(dryRun.stderr).toBe(`${warning}\n`);
    expect(dryRun.stdout).toMatch(/^Would restore /);

    const json = runCli(['restore', '--db', dbPath, '--from', backup, '--json']);
    expect(json.status).toBe(0);
    expect(jsonOf(json)).toMatchObject({ ok: true, status: 'restored', backupChecksum: 'unusable' });
    expect(json.stdout).not.toContain('gao-migrate: warning');
    expect(json.stderr.split('\n').filter((line) => line.startsWith('gao-migrate:'))).toEqual([warning]);
    expect(contentHash(dbPath)).toBe(original);
  });

  it('restores a backup with no checksum beside it (an older version made it) as before, with no warning', () => {
    const dbPath = sampleDb();
    const up = jsonOf(runCli(['up', '--db', dbPath, '--json']));
    const backup = up.backupPath as string;
    fs.rmSync(`${backup}.sha256`);
    const original = contentHash(backup);
    const run = runCli(['restore', '--db', dbPath, '--from', backup], {
      env: { GAO_MIGRATE_LOG_LEVEL: 'silent' },
    });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^Restored /);
    expect(contentHash(dbPath)).toBe(original);
  });
});

describe('gao-migrate restore interrupted (Ctrl-C, SIGTERM)', () => {
  /** A restore held up in SQLite by another process holding the database, so a signal certainly finds it running. */
  async function restoreHeldUp() {
    const dbPath = sampleDb();
    const backup = path.join(path.dirname(dbPath), 'copy.db');
    fs.copyFileSync(dbPath, backup);
    const holder = await holdSqliteLock(dbPath);
    const cli = startCli(['restore', '--db', dbPath, '--from', backup]);
    expect(await cli.stderrShows('"msg":"restore started"')).toBe(true);
    return { dbPath, backup, holder, ...cli, exited: cli.exited.then(({ code }) => code) };
  }

  it('on SIGINT says at once that the restore finishes, then finishes it', async () => {
    const run = await restoreHeldUp();
    const inodeBefore = fs.statSync(run.dbPath).ino;
    run.child.kill('SIGINT');
    const said = await run.stderrShows('Interrupted (SIGINT) while restore runs: it finishes first');
    await run.holder.release();
    expect(said).toBe(true);
    expect(await run.exited).toBe(0);
    expect(run.output().stdout).toContain(`Restored ${run.dbPath} from ${run.backup}`);
    expect(fs.statSync(run.dbPath).ino).not.toBe(inodeBefore);
    expect(filesBeside(run.dbPath).filter((name) => name.includes('.partial-'))).toEqual([]);
    expect(filesBeside(run.dbPath).filter((name) => name.includes('.pre_restore_backup_'))).toEqual([
      expect.stringMatching(/\.pre_restore_backup_\d{8}T\d{9}Z\.db$/),
      expect.stringMatching(/\.pre_restore_backup_\d{8}T\d{9}Z\.db\.sha256$/),
    ]);
  });

  it('on a second signal stops at once with INTERRUPTED and exit 143, leaving the database and no temporary copy', async () => {
    const run = await restoreHeldUp();
    const before = fileSha256(run.dbPath);
    const inodeBefore = fs.statSync(run.dbPath).ino;
    run.child.kill('SIGINT');
    expect(await run.stderrShows('Interrupted (SIGINT)')).toBe(true);
    run.child.kill('SIGTERM');
    const stopping = await run.stderrShows('Stopping (SIGTERM)');
    await run.holder.release();
    expect(stopping).toBe(true);
    expect(await run.exited).toBe(143);
    expect(run.output().stderr.trim().split('\n').at(-1)).toBe(
      `gao-migrate: Stopped at once (SIGTERM) before the restore finished: ${run.dbPath} is the file that was in place or, if its one rename had happened, the backup, never a mix. (INTERRUPTED)`,
    );
    expect(fs.statSync(run.dbPath).ino).toBe(inodeBefore);
    expect(fileSha256(run.dbPath)).toBe(before);
    expect(filesBeside(run.dbPath)).toEqual(['copy.db', 'documents.db']);
  });
});
