import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasStackTrace, jsonOf, runCli, runCliUnprivileged, UNPRIVILEGED_UID } from '../helpers/cli.js';
import { fileSha256, filesBeside, sampleDb } from '../helpers/sqlite.js';

/** A sample database (with 006 when `applied`), its own directory and it the unprivileged user's. */
function ownedDb(applied: boolean): string {
  const dbPath = sampleDb({ learnings: 50 });
  if (applied) {
    expect(runCli(['up', '--db', dbPath]).status).toBe(0);
    for (const name of filesBeside(dbPath).filter((file) => file.includes('.backup_')))
      fs.rmSync(path.join(path.dirname(dbPath), name));
  }
  if (process.getuid?.() === 0) {
    for (const file of [path.dirname(dbPath), dbPath]) fs.chownSync(file, UNPRIVILEGED_UID, UNPRIVILEGED_UID);
  }
  return dbPath;
}

const readOnlyWays: [string, (dbPath: string) => string][] = [
  ['a read-only file (chmod 444)', (dbPath) => dbPath],
  ['a file in a read-only directory (chmod 555)', (dbPath) => path.dirname(dbPath)],
];

describe.each(readOnlyWays)('gao-migrate up|down on %s', (_name, madeReadOnly) => {
  /** Runs the CLI with the database made read-only, and checks that every file beside it is as it was. */
  function runReadOnly(dbPath: string, args: string[]) {
    const bytes = fileSha256(dbPath);
    const target = madeReadOnly(dbPath);
    const mode = fs.statSync(target).mode & 0o777;
    fs.chmodSync(target, target === dbPath ? 0o444 : 0o555);
    try {
      const run = runCliUnprivileged([...args, '--db', dbPath]);
      expect(hasStackTrace(run.stdout + run.stderr)).toBe(false);
      return run;
    } finally {
      fs.chmodSync(target, mode);
      expect(fileSha256(dbPath)).toBe(bytes);
      expect(filesBeside(dbPath)).toEqual(['documents.db']);
    }
  }

  it.each([[['down']], [['down', '--dry-run']]])(
    "answers %j without 006 as on a writable database: 'not applied', exit 0",
    (args) => {
      const dbPath = ownedDb(false);
      const json = runReadOnly(dbPath, [...args, '--json']);
      expect(json.status).toBe(0);
      expect(jsonOf(json)).toMatchObject({ ok: true, op: 'down', status: 'not-applied', error: null });
      const text = runReadOnly(dbPath, args);
      expect(text.status).toBe(0);
      expect(text.stdout).toContain('Migration 006 down: not applied');
    },
  );

  it.each([[['up']], [['up', '--dry-run']]])(
    "answers %j with 006 as on a writable database: 'already applied', exit 0",
    (args) => {
      const dbPath = ownedDb(true);
      const json = runReadOnly(dbPath, [...args, '--json']);
      expect(json.status).toBe(0);
      expect(jsonOf(json)).toMatchObject({ ok: true, op: 'up', status: 'already-applied', error: null });
      const text = runReadOnly(dbPath, args);
      expect(text.status).toBe(0);
      expect(text.stdout).toContain('Migration 006 up: already applied: nothing to do');
    },
  );

  it.each([
    [['up'], false],
    [['up', '--dry-run'], false],
    [['down'], true],
    [['down', '--dry-run'], true],
  ])('refuses %j where there is something to do with DB_READONLY, exit 2', (args, applied) => {
    const dbPath = ownedDb(applied);
    const run = runReadOnly(dbPath, [...args, '--json']);
    expect(run.status).toBe(2);
    expect(jsonOf(run)).toMatchObject({ ok: false, status: 'failed', error: { code: 'DB_READONLY' } });
    expect((jsonOf(run).error as { message: string }).message).toMatch(/read-only .*nothing was changed/);
  });
});
