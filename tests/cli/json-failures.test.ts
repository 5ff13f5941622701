import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isRetryableCode } from '../../src/queue/retryable.js';
import { acquireFileLock } from '../../src/worker/file-lock.js';
import { jsonOf, runCli } from '../helpers/cli.js';
import { sampleDb, tempDir } from '../helpers/sqlite.js';

/** Nothing listens here. */
const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

/** The `error` of a --json failure, checked to have the one shape every failure has. */
function errorOf(run: ReturnType<typeof runCli>): { code: string; message: string; retryable: boolean } {
  expect(run.status).toBe(2);
  const json = jsonOf(run) as { ok: boolean; error: { code: string; message: string; retryable: boolean } };
  expect(json.ok).toBe(false);
  expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'retryable']);
  expect(json.error.retryable).toBe(isRetryableCode(json.error.code));
  return json.error;
}

describe('--json failures', () => {
  it('carry { code, message, retryable } whether the engine, commander or the command refused', () => {
    const missing = `${tempDir()}/missing.db`;
    expect(errorOf(runCli(['up', '--db', missing, '--json']))).toMatchObject({ code: 'DB_NOT_FOUND' });
    expect(errorOf(runCli(['up', '--bogus', '--json']))).toMatchObject({
      code: 'INVALID_INPUT',
      retryable: false,
    });
    expect(errorOf(runCli(['up', '--migration', 'six', '--json']))).toMatchObject({ code: 'INVALID_INPUT' });
    expect(errorOf(runCli(['enqueue', 'up', '--db', sampleDb(), '--json'], { env: NO_REDIS }))).toMatchObject(
      {
        code: 'REDIS_UNAVAILABLE',
        retryable: false,
      },
    );
    expect(errorOf(runCli(['status', '--json'], { env: NO_REDIS }))).toMatchObject({
      code: 'REDIS_UNAVAILABLE',
    });
  });

  it("say a held <db>.lock is retryable, as the engine's DB_LOCKED is", async () => {
    const dbPath = sampleDb();
    const lock = await acquireFileLock(fs.realpathSync(dbPath));
    try {
      const error = errorOf(runCli(['up', '--db', dbPath, '--lock-timeout', '0', '--json']));
      expect(error).toMatchObject({ code: 'FILE_LOCK_HELD', retryable: true });
    } finally {
      await lock.release();
    }
  });
});
