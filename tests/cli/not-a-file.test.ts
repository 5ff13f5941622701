import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_BIN, type CliRun, hasStackTrace, jsonOf, runCli } from '../helpers/cli.js';
import { fileSha256, sampleDb, tempDir } from '../helpers/sqlite.js';

/** Nothing listens here: a command that got as far as Redis would fail with REDIS_UNAVAILABLE instead. */
const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

const NOT_A_FILE =
  'not a regular file, so it cannot be a SQLite database: give the path of the database file.';

interface NonFile {
  path: string;
  code: string;
  message: string;
}

/**
 * What a --db or --from can be that is there but no file: a named pipe (which must never be opened: that waits for
 * a writer for ever), a character device, a directory, and /dev/stdin on a pipe (see `cli`). The
 * device is a null device made in a temporary directory where the tests run as root: a restore that wrongly took it
 * for a database must not rename a file over the system's /dev/null.
 */
function nonFiles(): { dir: string; cases: [string, NonFile][] } {
  const dir = tempDir();
  const fifo = path.join(dir, 'pipe.db');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  const device = process.getuid?.() === 0 ? path.join(dir, 'null.db') : '/dev/null';
  if (device !== '/dev/null') expect(spawnSync('mknod', [device, 'c', '1', '3']).status).toBe(0);
  const directory = path.join(dir, 'folder.db');
  fs.mkdirSync(directory);
  return {
    dir,
    cases: [
      [
        'a named pipe',
        { path: fifo, code: 'NOT_A_DATABASE', message: `${fifo} is a pipe (FIFO), ${NOT_A_FILE}` },
      ],
      [
        'a character device',
        { path: device, code: 'NOT_A_DATABASE', message: `${device} is a character device, ${NOT_A_FILE}` },
      ],
      [
        'a directory',
        {
          path: directory,
          code: 'DB_IS_DIRECTORY',
          message: `${directory} is a directory, not a SQLite database file.`,
        },
      ],
      [
        '/dev/stdin on a pipe',
        { path: '/dev/stdin', code: 'NOT_A_DATABASE', message: `/dev/stdin is a pipe (FIFO), ${NOT_A_FILE}` },
      ],
    ],
  };
}

/**
 * The built CLI; for /dev/stdin, with its standard input on a pipe, as in `… | gao-migrate up --db /dev/stdin`
 * (spawnSync's own standard input is a socket).
 */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  if (!args.includes('/dev/stdin')) return runCli(args, { env });
  const run = spawnSync('sh', ['-c', 'true | exec "$0" "$@"', process.execPath, CLI_BIN, ...args], {
    env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'info', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function expectOneSentence(run: CliRun, message: string) {
  expect(run.status).toBe(2);
  expect(run.stderr).toBe(`gao-migrate: ${message}\n`);
  expect(hasStackTrace(run.stderr)).toBe(false);
}

describe('a --db or --from that is not a regular file', () => {
  it.each(['up', 'down', 'verify'])(
    '%s says what it is in one sentence, exit 2, without opening it or writing beside it',
    (op) => {
      const { dir, cases } = nonFiles();
      const listing = fs.readdirSync(dir).sort();
      const unchanged = op === 'verify' ? '' : ' The database is unchanged.';
      for (const [name, given] of cases) {
        const json = cli([op, '--db', given.path, '--json']);
        expect(json.status, name).toBe(2);
        expect(jsonOf(json), name).toMatchObject({
          ok: false,
          db: given.path,
          status: 'failed',
          error: { code: given.code, message: `${given.message}${unchanged}`, retryable: false },
        });
        expect(hasStackTrace(json.stdout + json.stderr), name).toBe(false);
        const text = cli([op, '--db', given.path]);
        expect(text.status, name).toBe(2);
        expect(text.stdout.trim().split('\n').at(-1), name).toBe(
          `Error ${given.code}: ${given.message}${unchanged}`,
        );
      }
      expect(fs.readdirSync(dir).sort()).toEqual(listing);
    },
  );

  it('restore refuses one as the database to replace, or as the backup, and changes nothing', () => {
    const { dir, cases } = nonFiles();
    const backup = sampleDb();
    const database = sampleDb();
    const hashes = [fileSha256(backup), fileSha256(database)];
    const listing = fs.readdirSync(dir).sort();
    for (const [name, given] of cases) {
      const replaced = cli(['restore', '--db', given.path, '--from', backup, '--json']);
      expect(replaced.status, name).toBe(2);
      expect(jsonOf(replaced).error, name).toEqual({
        code: given.code,
        message: `${given.message.replace(/\.$/, '')}; nothing was changed.`,
        retryable: false,
      });
      const restoredFrom = cli(['restore', '--db', database, '--from', given.path, '--json']);
      expect(restoredFrom.status, name).toBe(2);
      expect(jsonOf(restoredFrom).error, name).toEqual({
        code: 'BACKUP_INVALID',
        message: `The backup cannot be restored: ${given.message
          .replace('the database file.', 'the backup file.')
          .replace(
            /is a directory, not a SQLite database file\.$/,
            'is a directory, not a backup file: give the path of the backup file.',
          )} Nothing was changed.`,
        retryable: false,
      });
      expect(hasStackTrace(replaced.stderr + restoredFrom.stderr), name).toBe(false);
    }
    expect(fs.readdirSync(dir).sort()).toEqual(listing);
    expect([fileSha256(backup), fileSha256(database)]).toEqual(hashes);
    expect(fs.readdirSync(path.dirname(database))).toEqual(['documents.db']);
  });

  it('restore asks for the path of the backup file when --from is a named pipe', () => {
    const fifo = path.join(tempDir(), 'backup.db');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const database = sampleDb();
    const hash = fileSha256(database);
    const run = cli(['restore', '--db', database, '--from', fifo]);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe(
      `Error BACKUP_INVALID: The backup cannot be restored: ${fifo} is a pipe (FIFO), not a regular file, so it cannot be a SQLite database: give the path of the backup file. Nothing was changed.\n`,
    );
    expect(hasStackTrace(run.stderr)).toBe(false);
    expect(fileSha256(database)).toBe(hash);
    expect(fs.readdirSync(path.dirname(database))).toEqual(['documents.db']);
  });

  it.each(['enqueue', 'fleet'])('%s refuses one in one sentence before it reaches Redis', (command) => {
    const { dir, cases } = nonFiles();
    for (const [, given] of cases) {
      expectOneSentence(
        cli([command, 'up', '--db', given.path], NO_REDIS),
        `${given.message} (${given.code})`,
      );
    }
    // The same from a list, whose other entries are fine.
    const list = path.join(dir, 'list.txt');
    const [, fifo] = cases[0] as [string, NonFile];
    fs.writeFileSync(list, `${sampleDb()}\n${fifo.path}\n`);
    expectOneSentence(cli([command, 'up', '--from-file', list], NO_REDIS), `${fifo.message} (${fifo.code})`);
  });
});
