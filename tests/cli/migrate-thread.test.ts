import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  COMMITTING,
  type MigrateThreadInput,
  type MigrateThreadMessage,
  RUNNING,
  STOPPING,
} from '../../src/cli/migrate-thread-protocol.js';
import type { RunResult } from '../../src/engine/types.js';
import { fileSha256, filesBeside, sampleDb } from '../helpers/sqlite.js';

/**
 * The thread of `gao-migrate up|down|verify` and the command share one flag: the thread claims it before COMMIT,
 * the command on a second signal. Whoever claims it first decides, whatever order their messages arrive in.
 */

const THREAD = new URL('../../dist/cli/migrate-thread.js', import.meta.url);

function runThread(dbPath: string, flag: number): Promise<{ result: RunResult; flag: Int32Array }> {
  const stopOrCommit = new Int32Array(new SharedArrayBuffer(4));
  stopOrCommit[0] = flag;
  const request: MigrateThreadInput = { op: 'up', input: { dbPath }, busyTimeoutMs: 5_000, stopOrCommit };
  const thread = new Worker(THREAD, { workerData: request });
  return new Promise((resolve, reject) => {
    thread.on('message', (message: MigrateThreadMessage) => {
      if (message.type === 'result') resolve({ result: message.result, flag: stopOrCommit });
    });
    thread.once('error', reject);
  });
}

describe('migrate thread', () => {
  it('claims the flag as it commits, so a later second signal is ignored', async () => {
    const dbPath = sampleDb();
    const { result, flag } = await runThread(dbPath, RUNNING);
    expect(result).toMatchObject({ ok: true, status: 'applied' });
    expect(flag[0]).toBe(COMMITTING);
  });

  it('never commits once the command claimed the flag to stop it: the database is unchanged', async () => {
    const dbPath = sampleDb();
    const before = fileSha256(dbPath);
    const { result, flag } = await runThread(dbPath, STOPPING);
    expect(result).toMatchObject({ ok: false, status: 'failed' });
    expect(result.error?.message).toMatch(/stopped by a signal before COMMIT/);
    expect(result.error?.message).toMatch(/unchanged/);
    expect(flag[0]).toBe(STOPPING);
    expect(fileSha256(dbPath)).toBe(before);
    // The checked backup it made before the change stays, as after any failed change.
    expect(filesBeside(dbPath).filter((name) => /\.backup_\d{8}T\d{9}Z\.db$/.test(name))).toHaveLength(1);
    expect(filesBeside(dbPath).some((name) => name.endsWith('-journal'))).toBe(false);
    expect(path.basename(dbPath)).toBe(path.basename(result.db));
  });
});
