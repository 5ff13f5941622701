import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { redisForFile } from '../helpers/redis.js';
import { fileSha256, sampleDb, tempDir } from '../helpers/sqlite.js';

/** Nothing listens here: a command that got as far as Redis would fail with REDIS_UNAVAILABLE instead. */
const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

const run = ({ status, stderr }: ReturnType<typeof runCli>) => ({ status, stderr: stderr.trim() });

function expectOneSentence(run: ReturnType<typeof runCli>, message: string) {
  expect(run.status).toBe(2);
  expect(run.stderr.trim()).toBe(`gao-migrate: ${message} (INVALID_INPUT)`);
  expect(hasStackTrace(run.stderr)).toBe(false);
}

describe('options every queue command shares', () => {
  it.each([
    ['enqueue', 'up', '--db', 'DB'],
    ['fleet', 'up', '--db', 'DB'],
    ['status'],
    ['retry', 'rollout-1', '--failed'],
    ['worker', '--roots', '.'],
    ['dashboard', '--port', '0'],
  ])('%s refuses a queue name BullMQ would refuse, from --queue or GAO_MIGRATE_QUEUE', (...given) => {
    const db = sampleDb();
    const args = given.map((arg) => (arg === 'DB' ? db : arg));
    const before = fileSha256(db);
    expectOneSentence(
      runCli([...args, '--queue', 'gao:prod'], { env: NO_REDIS }),
      'The queue name "gao:prod" (--queue) cannot be used: it contains ":", which BullMQ keeps for its Redis keys.',
    );
    expectOneSentence(
      runCli([...args, '--queue', ''], { env: NO_REDIS }),
      'The queue name "" (--queue) cannot be used: it is empty.',
    );
    expectOneSentence(
      runCli(args, { env: { ...NO_REDIS, GAO_MIGRATE_QUEUE: 'a:b' } }),
      'The queue name "a:b" (GAO_MIGRATE_QUEUE) cannot be used: it contains ":", which BullMQ keeps for its Redis keys.',
    );
    expect(fileSha256(db)).toBe(before);
  });
});

describe('--from-file', () => {
  it.each(['enqueue', 'fleet'])('%s says why a list cannot be read, before it reaches Redis', (command) => {
    const dir = tempDir();
    const dangling = path.join(dir, 'dangling.txt');
    fs.symlinkSync(path.join(dir, 'gone.txt'), dangling);
    expectOneSentence(
      runCli([command, 'up', '--from-file', dangling], { env: NO_REDIS }),
      `Cannot read the list ${dangling}: no such file (or a symbolic link to none).`,
    );
    expectOneSentence(
      runCli([command, 'up', '--from-file', dir], { env: NO_REDIS }),
      `Cannot read the list ${dir}: it is a directory.`,
    );
  });
});

describe('--stall-timeout', () => {
  it.each([
    ['worker', '--roots', '.'],
    ['fleet', 'up', '--db', 'DB'],
  ])(
    '%s refuses less than 2 s, more than a timer can wait, or not a number, in one sentence before it reaches Redis',
    (...given) => {
      const db = sampleDb();
      const args = given.map((arg) => (arg === 'DB' ? db : arg));
      const before = fileSha256(db);
      // Node's timers fire after 1 ms instead: BullMQ's stalled-job check and lock renewal would run without pause.
      expectOneSentence(
        runCli([...args, '--stall-timeout', '2147483648'], { env: NO_REDIS }),
        "Option '--stall-timeout <ms>' argument '2147483648' is invalid. Expected 2000 to 2147483647 ms.",
      );
      expectOneSentence(
        runCli([...args, '--stall-timeout', '1999'], { env: NO_REDIS }),
        "Option '--stall-timeout <ms>' argument '1999' is invalid. Expected 2000 to 2147483647 ms.",
      );
      expectOneSentence(
        runCli([...args, '--stall-timeout', '2s'], { env: NO_REDIS }),
        "Option '--stall-timeout <ms>' argument '2s' is invalid. Expected a whole number of 0 or more.",
      );
      expect(fileSha256(db)).toBe(before);
    },
  );
});

describe('--busy-timeout and --lock-timeout of worker and fleet', () => {
  it.each([
    ['worker', '--roots', '.'],
    ['fleet', 'up', '--db', 'DB'],
  ])('%s refuses a wait SQLite cannot take, or not a number, before it reaches Redis', (...given) => {
    const db = sampleDb();
    const args = given.map((arg) => (arg === 'DB' ? db : arg));
    const before = fileSha256(db);
    expectOneSentence(
      runCli([...args, '--busy-timeout', '2147483648'], { env: NO_REDIS }),
      "Option '--busy-timeout <ms>' argument '2147483648' is invalid. Expected a whole number of milliseconds from 0 to 2147483647.",
    );
    expectOneSentence(
      runCli([...args, '--lock-timeout', '-1'], { env: NO_REDIS }),
      "Option '--lock-timeout <ms>' argument '-1' is invalid. Expected a whole number of 0 or more.",
    );
    expect(fileSha256(db)).toBe(before);
  });
});

describe('REDIS_URL', () => {
  const redis = redisForFile();
  it.each([
    ['enqueue', 'up', '--db', 'documents.db'],
    ['fleet', 'up', '--db', 'documents.db'],
    ['status'],
    ['worker', '--roots', '.'],
    ['dashboard', '--port', '0'],
  ])('%s refuses a database number Redis does not have, and a malformed one', (...args) => {
    const url = new URL(redis.url);
    url.pathname = '/9999';
    const refused = runCli(args, { env: { REDIS_URL: url.href } });
    expect(run(refused)).toEqual({
      status: 2,
      stderr: `gao-migrate: Redis at ${url.href} refused the connection's setup (ERR DB index is out of range); check the database number in REDIS_URL. (REDIS_REFUSED)`,
    });
    url.pathname = '/first';
    expectOneSentence(
      runCli(args, { env: { REDIS_URL: url.href } }),
      'REDIS_URL names a database that is not a whole number.',
    );
  });
  it.each([
    ['enqueue', 'up', '--db', 'documents.db'],
    ['fleet', 'up', '--db', 'documents.db'],
    ['status'],
    ['worker', '--roots', '.'],
    ['dashboard', '--port', '0'],
  ])(
    '%s refuses credentials Redis refuses, rather than waiting for ever or saying Redis is away',
    (...args) => {
      const url = new URL(redis.url);
      url.username = 'nobody';
      url.password = 'not-the-password';
      const shown = `redis://nobody:***@${url.host}`;
      expect(run(runCli(args, { env: { REDIS_URL: url.href } }))).toEqual({
        status: 2,
        stderr: `gao-migrate: Redis at ${shown} refused the credentials in REDIS_URL (WRONGPASS invalid username-password pair or user is disabled); check its user name and password. (REDIS_REFUSED)`,
      });
    },
  );
});

describe('GAO_MIGRATE_LOG_LEVEL', () => {
  it('refuses a level pino does not have before the command starts, and leaves the database as it was', () => {
    const db = sampleDb();
    const before = fileSha256(db);
    expectOneSentence(
      runCli(['up', '--db', db], { env: { GAO_MIGRATE_LOG_LEVEL: 'verbose' } }),
      'GAO_MIGRATE_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, not "verbose".',
    );
    expect(fileSha256(db)).toBe(before);
  });

  it.each([
    ['fatal', 0],
    ['silent', 0],
    ['error', 1],
    ['', 1],
  ])('takes %j (empty means info) and logs accordingly', (level, lines) => {
    const run = runCli(['verify', '--db', sampleDb()], { env: { GAO_MIGRATE_LOG_LEVEL: level } });
    expect(run.status).toBe(1); // not applied: the command ran
    const logged = run.stderr.trim() === '' ? [] : run.stderr.trim().split('\n');
    expect(logged).toHaveLength(lines); // the not-applied result is logged at error
  });
});

describe('worker --roots and GAO_MIGRATE_ROOTS', () => {
  it('refuses a root that is missing or not a directory before it reaches Redis, in one sentence', () => {
    const db = sampleDb();
    const before = fileSha256(db);
    const missing = path.join(tempDir(), 'missing');
    expectOneSentence(
      runCli(['worker', '--roots', missing], { env: NO_REDIS }),
      `Allowed root ${missing} does not exist or cannot be read.`,
    );
    // A database given as its own root would be refused to every job: only what lies under a root is allowed.
    const notADirectory = `Allowed root ${db} is not a directory: a root is a directory whose databases (under it, at any depth) may be migrated; give the directory that holds it.`;
    expectOneSentence(runCli(['worker', '--roots', db], { env: NO_REDIS }), notADirectory);
    expectOneSentence(runCli(['worker'], { env: { ...NO_REDIS, GAO_MIGRATE_ROOTS: db } }), notADirectory);
    expect(fileSha256(db)).toBe(before);
  });
});
