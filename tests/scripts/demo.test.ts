import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisForFile } from '../helpers/redis.js';

const DEMO = fileURLToPath(new URL('../../scripts/demo.mjs', import.meta.url));

describe('npm run demo', () => {
  // Its own Redis, not whatever answers on 127.0.0.1:6379: the demo's queues stay in the Redis it is given.
  const redis = redisForFile();

  it('rolls 006 out over the sample projects through Redis and a worker, and prints the table and the dashboard URL', async () => {
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      const child = spawn(process.execPath, [DEMO], {
        env: { ...process.env, CI: '1', PORT: '0', REDIS_URL: redis.url },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString();
      });
      child.once('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    });

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
