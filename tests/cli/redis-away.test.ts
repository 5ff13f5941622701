import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRedis, startLocalRedis } from '../../src/queue/local-redis.js';
import { CLI_BIN, hasStackTrace } from '../helpers/cli.js';
import { sampleDb, tempDir, waitFor } from '../queue/helpers.js';

// Each test takes its own Redis away while a command follows its work with --wait.
let redis: LocalRedis | undefined;
let running: ChildProcess | undefined;
// Made before the first test, not while the file is collected: with every test filtered out (-t), no afterAll
// would remove it.
let dir: string;
beforeAll(() => {
  dir = tempDir();
});
afterEach(async () => {
  running?.kill('SIGKILL'); // a command that never ended (the failure this file looks for) must not outlive it
  running = undefined;
  await redis?.stop({ hard: true });
  redis = undefined;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI with `args`; once stderr shows `ready`, stops Redis; resolves with the exit code and stderr. */
async function loseRedisDuring(
  args: string[],
  ready: string,
): Promise<{ code: number | null; stderr: string }> {
  redis = await startLocalRedis();
  const server = redis;
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    env: { ...process.env, REDIS_URL: server.url, GAO_MIGRATE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  running = child;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await waitFor(async () => stderr.includes(ready), `"${ready}" on stderr`);
  await server.stop({ hard: true });
  return { code: await exited, stderr };
}

/** The lines a person reads: stderr without the JSON log lines. */
const sentences = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((line) => !line.startsWith('{'));

describe('a command following its work when Redis goes away', () => {
  it('fleet --wait ends with one sentence naming the rollout, exit 2', async () => {
    const db = sampleDb(dir, 'fleet');
    const { code, stderr } = await loseRedisDuring(
      ['fleet', 'up', '--db', db, '--wait'],
      'no worker is running',
    );
    expect(code).toBe(2);
    expect(hasStackTrace(stderr)).toBe(false);
    const last = sentences(stderr).at(-1) ?? '';
    expect(last).toMatch(
      /^gao-migrate: Lost the connection to Redis \(.+\); rollout (rollout-\S+) is not cancelled: once Redis is back with its data, follow it with gao-migrate status \1\. \(REDIS_UNAVAILABLE\)$/,
    );
  });

  it('enqueue --wait ends with one sentence, exit 2', async () => {
    const db = sampleDb(dir, 'enqueue');
    const { code, stderr } = await loseRedisDuring(
      ['enqueue', 'up', '--db', db, '--wait'],
      'no worker is running',
    );
    expect(code).toBe(2);
    expect(hasStackTrace(stderr)).toBe(false);
    // The first says why nothing moved (no worker on the queue), the last why the command ended.
    const said = sentences(stderr);
    expect(said).toHaveLength(2);
    expect(said[0]).toMatch(
      /^gao-migrate: no worker is running on queue \S+; the jobs wait until one starts/,
    );
    expect(said[1]).toMatch(
      /^gao-migrate: Lost the connection to Redis \(.+\); the jobs queued before stay queued while Redis keeps its data\. \(REDIS_UNAVAILABLE\)$/,
    );
  });
});
