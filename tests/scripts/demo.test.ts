import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { freePort, startLocalRedis } from '../../src/queue/local-redis.js';
import { runNodeAsync } from '../helpers/cli-async.js';
import { redisForFile } from '../helpers/redis.js';

const DEMO = fileURLToPath(new URL('../../scripts/demo.mjs', import.meta.url));

describe('npm run demo', () => {
  // Its own Redis, not whatever answers on 127.0.0.1:6379: the demo's queues stay in the Redis it is given.
  const redis = redisForFile();

  it('says in one sentence that the Redis it was given does not answer, exits 2 and makes nothing', async () => {
    const port = await freePort();
    const before = demoDirectories();
    const { code, stdout, stderr } = await runDemo({ REDIS_URL: `redis://127.0.0.1:${port}` });

    expect(code).toBe(2);
    expect(stderr).toBe(
      `demo: Cannot reach Redis at redis://127.0.0.1:${port} (ECONNREFUSED); start it or set REDIS_URL. (REDIS_UNAVAILABLE)\n`,
    );
    expect(stdout).toBe('');
    expect(demoDirectories()).toEqual(before);
  });

  it("refuses a REDIS_URL that is no Redis URL in the CLI's sentence, exits 2 and makes nothing", async () => {
    const before = demoDirectories();
    const { code, stdout, stderr } = await runDemo({ REDIS_URL: 'ftp://127.0.0.1' });
    expect(code).toBe(2);
    expect(stderr).toBe(
      'demo: REDIS_URL must start with redis:// or rediss://, not ftp://. (INVALID_INPUT)\n',
    );
    expect(stdout).toBe('');
    expect(demoDirectories()).toEqual(before);
  });

  it('stops in one sentence, exit 2, when Redis stops answering during the rollout, and removes what it made', async () => {
    const dying = await startLocalRedis();
    const before = demoDirectories();
    const child = spawn(process.execPath, [DEMO], {
      env: { ...process.env, CI: '1', PORT: '0', GAO_MIGRATE_LOG_LEVEL: 'silent', REDIS_URL: dying.url },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const rolloutStarted = new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('$ gao-migrate fleet up')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await rolloutStarted;
      await dying.stop({ hard: true });
      const code = await exited;

      expect(code, stderr).toBe(2);
      expect(stderr).toContain(
        `demo: Redis at ${dying.url} stopped answering during the rollout, so the demo stops here; the sample projects are removed. (REDIS_UNAVAILABLE)\n`,
      );
      expect(demoDirectories()).toEqual(before);
    } finally {
      child.kill('SIGKILL');
      await dying.stop();
    }
  });

  it('rolls 006 out over the sample projects through Redis and a worker, and prints the table and the dashboard URL', async () => {
    const { code, stdout, stderr } = await runDemo({ REDIS_URL: redis.url });

    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/Creating 6 sample gao-dev projects \(schema 005\) under (\S+)/);
    expect(stdout).toMatch(/DATABASE\s+STATE\s+BACKUP\s+DURATION\s+ERROR/);
    expect(stdout.match(/documents\.db\s+done\s+\S+documents\.backup_\d{8}T\d{9}Z\.db/g)).toHaveLength(6);
    expect(stdout).toMatch(/Rollout rollout-\S+ \(up\): completed/);
    expect(stdout).toMatch(/6 done, 0 failed, 0 cancelled, 0 in progress, 0 not started, of 6\./);
    expect(stdout).toMatch(/Dashboard: http:\/\/127\.0\.0\.1:\d+\/fleet\/rollout-/);
    // Unattended runs clean up after themselves.
    const root = /under (\S+)/.exec(stdout)?.[1] as string;
    expect(fs.existsSync(root)).toBe(false);
    const client = new Redis(redis.url);
    try {
      expect(await client.keys('bull:gao-migrate-demo-*')).toEqual([]);
    } finally {
      client.disconnect();
    }
  });
});

/** Runs the demo unattended, with `env` over this process's environment, to its end. */
function runDemo(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNodeAsync(DEMO, [], { env: { CI: '1', PORT: '0', GAO_MIGRATE_LOG_LEVEL: 'warn', ...env } });
}

/** The demo's sample project directories now in the system's temporary directory. */
function demoDirectories(): string[] {
  return fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('gao-migrate-demo-'));
}
