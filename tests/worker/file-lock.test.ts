import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import lockfile from 'proper-lockfile';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireFileLock, FileLockError, FileLockHeldError, lockPathOf } from '../../src/worker/file-lock.js';
import { REPO_ROOT } from '../queue/helpers.js';

/** A child process holding `<db>.lock` (taken with the built file-lock module) until it is killed. */
async function holdLockInAnotherProcess(db: string, staleMs: number): Promise<ChildProcess> {
  const module = pathToFileURL(path.join(REPO_ROOT, 'dist', 'worker', 'file-lock.js')).href;
  const script = `const { acquireFileLock } = await import(${JSON.stringify(module)});
await acquireFileLock(${JSON.stringify(db)}, { staleMs: ${staleMs} });
process.stdout.write('locked\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the lock holder exited (${code})`)));
  });
  return child;
}

let dir: string;
let dbPath: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-file-lock-'));
  dbPath = path.join(dir, 'documents.db');
  fs.writeFileSync(dbPath, '');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('acquireFileLock', () => {
  it('is exclusive until released, and release removes <db>.lock (twice is harmless)', async () => {
    const first = await acquireFileLock(dbPath);
    expect(fs.statSync(lockPathOf(dbPath)).isDirectory()).toBe(true);
    await expect(acquireFileLock(dbPath, { timeoutMs: 100 })).rejects.toBeInstanceOf(FileLockHeldError);
    await first.release();
    await first.release();
    expect(fs.existsSync(lockPathOf(dbPath))).toBe(false);
    const second = await acquireFileLock(dbPath, { timeoutMs: 100 });
    await second.release();
  });

  it.each([
    ['fresh', 0],
    ['old', 60_000],
  ])(
    'refuses at once a file in the way of <db>.lock (%s), which no worker would ever remove',
    async (_age, ageMs) => {
      fs.writeFileSync(lockPathOf(dbPath), 'not a lock');
      const when = new Date(Date.now() - ageMs);
      fs.utimesSync(lockPathOf(dbPath), when, when);
      const attempt = acquireFileLock(dbPath, { timeoutMs: 30_000, staleMs: 2_000 });
      await expect(attempt).rejects.toBeInstanceOf(FileLockError);
      await expect(attempt).rejects.toMatchObject({
        code: 'FILE_LOCK_BLOCKED',
        message: `${lockPathOf(dbPath)} is in the way of the file lock: it is a file, not the lock directory workers create, so no worker will remove it. Remove it if no other program uses it; nothing was changed.`,
      });
      expect(fs.readFileSync(lockPathOf(dbPath), 'utf8')).toBe('not a lock');
    },
  );

  it('waits for a lock released while it waits', async () => {
    const first = await acquireFileLock(dbPath);
    setTimeout(() => void first.release(), 150);
    const second = await acquireFileLock(dbPath, { timeoutMs: 5_000 });
    expect(second.waitMs).toBeGreaterThanOrEqual(100);
    await second.release();
  });

  it('takes over a lock left by a crashed holder once it is stale, not before', async () => {
    fs.mkdirSync(lockPathOf(dbPath));
    await expect(acquireFileLock(dbPath, { timeoutMs: 100, staleMs: 2_000 })).rejects.toBeInstanceOf(
      FileLockHeldError,
    );
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockPathOf(dbPath), old, old);
    const taken = await acquireFileLock(dbPath, { timeoutMs: 100, staleMs: 2_000 });
    expect(fs.statSync(lockPathOf(dbPath)).mtimeMs).toBeGreaterThan(old.getTime());
    await taken.release();
    expect(fs.existsSync(lockPathOf(dbPath))).toBe(false);
  });

  it('keeps a held lock fresh, so that it is never taken over while held', async () => {
    const held = await acquireFileLock(dbPath, { staleMs: 2_000 });
    const before = fs.statSync(lockPathOf(dbPath)).mtimeMs;
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(fs.statSync(lockPathOf(dbPath)).mtimeMs).toBeGreaterThan(before);
    await expect(acquireFileLock(dbPath, { timeoutMs: 100, staleMs: 2_000 })).rejects.toBeInstanceOf(
      FileLockHeldError,
    );
    await held.release();
  });

  it('is not broken by a taker with a shorter stale threshold while its holder lives, and is once it dies', async () => {
    const lost: Error[] = [];
    const held = await acquireFileLock(dbPath, {
      staleMs: 30_000,
      onCompromised: (error) => lost.push(error),
    });
    // Longer than the taker's threshold: a lock refreshed only every 15 s (30 s / 2) would look abandoned now.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await expect(acquireFileLock(dbPath, { timeoutMs: 100, staleMs: 2_000 })).rejects.toBeInstanceOf(
      FileLockHeldError,
    );
    await held.release();
    expect(lost).toEqual([]);

    const holder = await holdLockInAnotherProcess(dbPath, 30_000);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    const taken = await acquireFileLock(dbPath, { timeoutMs: 10_000, staleMs: 2_000 });
    await taken.release();
  });

  it('reports a lock removed while held as compromised, and release then leaves the new holder alone', async () => {
    const lost: Error[] = [];
    const held = await acquireFileLock(dbPath, {
      staleMs: 2_000,
      onCompromised: (error) => lost.push(error),
    });
    // Another process took it over: its directory, made at another time.
    fs.rmdirSync(lockPathOf(dbPath));
    fs.mkdirSync(lockPathOf(dbPath));
    const other = new Date(Date.now() - 5_000);
    fs.utimesSync(lockPathOf(dbPath), other, other);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(lost).toHaveLength(1);
    expect((lost[0] as NodeJS.ErrnoException).code).toBe('ECOMPROMISED');
    await held.release();
    expect(fs.existsSync(lockPathOf(dbPath))).toBe(true);
  });

  it('excludes and is excluded by proper-lockfile, which earlier workers used', async () => {
    const ours = await acquireFileLock(dbPath);
    await expect(
      lockfile.lock(dbPath, { realpath: false, lockfilePath: lockPathOf(dbPath) }),
    ).rejects.toMatchObject({ code: 'ELOCKED' });
    await ours.release();
    const theirs = await lockfile.lock(dbPath, { realpath: false, lockfilePath: lockPathOf(dbPath) });
    await expect(acquireFileLock(dbPath, { timeoutMs: 100 })).rejects.toBeInstanceOf(FileLockHeldError);
    await theirs();
  });
});
