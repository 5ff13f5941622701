import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalRedis } from '../../src/queue/local-redis.js';

// The built module (`npm test` builds first), run in a process of its own with its own PATH and TMPDIR.
const LOCAL_REDIS = new URL('../../dist/queue/local-redis.js', import.meta.url).href;

const made: string[] = [];
afterEach(() => {
  for (const directory of made.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function scratch(prefix: string): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(directory);
  return directory;
}

/**
 * Runs startLocalRedis() with `script` as the first `redis-server` on PATH and an empty TMPDIR; one not executable
 * (which PATH's search passes over) is given as the binary.
 */
function startWithFakeServer(script: string, startTimeoutMs: number, { executable = true } = {}) {
  const bin = scratch('gao-migrate-fake-bin-');
  const fake = path.join(bin, 'redis-server');
  fs.writeFileSync(fake, script);
  fs.chmodSync(fake, executable ? 0o755 : 0o644);
  const options = { startTimeoutMs, ...(!executable && { binary: fake }) };
  const tmp = scratch('gao-migrate-tmpdir-');
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
      const { startLocalRedis } = await import(${JSON.stringify(LOCAL_REDIS)});
      const message = await startLocalRedis(${JSON.stringify(options)}).then(
        () => 'started',
        (error) => error.message,
      );
      console.log(JSON.stringify({ message }));
      `,
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`, TMPDIR: tmp },
      timeout: 60_000,
    },
  );
  expect(run.stderr).toBe('');
  return { message: JSON.parse(run.stdout).message as string, left: fs.readdirSync(tmp), fake };
}

describe('startLocalRedis', () => {
  it('removes its temp directory when redis-server exits at start', () => {
    const { message, left } = startWithFakeServer('#!/bin/sh\necho "no such option" >&2\nexit 1\n', 10_000);
    expect(message).toMatch(/^redis-server exited at start/);
    expect(left).toEqual([]);
  });

  it("says redis-server's own reason when it exits at start, though its last words reach the pipe after its exit", () => {
    // What a slow reader of the pipe sees: the process is gone before its output is read (here a process it left
    // behind writes it, later).
    const late = '#!/bin/sh\n(sleep 0.2; echo "bind: Address already in use" >&2) &\nexit 1\n';
    const { message, left } = startWithFakeServer(late, 10_000);
    expect(message).toBe('redis-server exited at start (with code 1): bind: Address already in use');
    expect(left).toEqual([]);
  });

  it('says so at once, with its output, when redis-server is killed at start (the OOM killer)', () => {
    const killed = '#!/bin/sh\necho "Out of memory" >&2\nkill -KILL $$\n';
    const { message, left } = startWithFakeServer(killed, 30_000);
    expect(message).toBe('redis-server exited at start (on SIGKILL): Out of memory');
    expect(left).toEqual([]);
  });

  it("refuses a port another Redis holds with redis-server's own reason, rather than take that Redis for its own", async () => {
    const holder = await startLocalRedis();
    try {
      await expect(startLocalRedis({ port: holder.port })).rejects.toThrow(
        `Could not create server TCP listening socket 127.0.0.1:${holder.port}: bind: Address already in use`,
      );
    } finally {
      await holder.stop();
    }
  });

  it('says a redis-server that cannot be run cannot, where the unheard error would end the process', () => {
    const { message, left, fake } = startWithFakeServer('#!/bin/sh\n', 10_000, { executable: false });
    expect(message).toBe(`Cannot run redis-server (spawn ${fake} EACCES).`);
    expect(left).toEqual([]);
  });

  it('removes its temp directory when redis-server does not answer in time', () => {
    const { message, left } = startWithFakeServer('#!/bin/sh\nexec sleep 30\n', 300);
    expect(message).toMatch(/^redis-server did not answer on port \d+ within 300 ms$/);
    expect(left).toEqual([]);
  });
});
