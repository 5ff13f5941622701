import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { freePort } from '../../src/queue/local-redis.js';
import { assertRedisReachable } from '../../src/queue/redis-check.js';
import { redisForFile } from '../helpers/redis.js';

// The built module (`npm test` builds first), run in a process of its own: what keeps a process up is the point.
const REDIS_CHECK = new URL('../../dist/queue/redis-check.js', import.meta.url).href;
const CONNECTION = new URL('../../dist/queue/connection.js', import.meta.url).href;

describe('assertRedisReachable', () => {
  it('leaves no timer behind when Redis cannot be reached, so a command that says so exits at once', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const script = `
      const { assertRedisReachable } = await import(${JSON.stringify(REDIS_CHECK)});
      const { connectionOptionsFromUrl } = await import(${JSON.stringify(CONNECTION)});
      const url = ${JSON.stringify(url)};
      const code = await assertRedisReachable(url, connectionOptionsFromUrl(url)).then(() => 'reached', (error) => error.code);
      setImmediate(() => console.log(JSON.stringify({ code, pending: process.getActiveResourcesInfo() })));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const { code, pending } = JSON.parse(run.stdout);
    expect(code).toBe('REDIS_UNAVAILABLE');
    // ioredis arms a 2 s timer on disconnect() that only a later 'close' clears; the failed socket had closed already.
    expect(pending).not.toContain('Timeout');
  });
});

describe('assertRedisReachable with the wrong scheme for the port', () => {
  const plain = redisForFile();
  const tls = redisForFile({ tls: true });

  it('suggests rediss:// when a TLS port closes a plain connection', async () => {
    const url = tls.url.replace(/^rediss:/, 'redis:');
    await expect(assertRedisReachable(url, connectionOptionsFromUrl(url))).rejects.toMatchObject({
      code: 'REDIS_UNAVAILABLE',
      message: expect.stringMatching(
        /\(ECONNRESET\); start it or set REDIS_URL \(if that port takes TLS, use rediss:\/\/\)\.$/,
      ),
    });
  });

  it('suggests redis:// when a plain port does not answer a TLS handshake', async () => {
    const url = plain.url.replace(/^redis:/, 'rediss:');
    await expect(assertRedisReachable(url, connectionOptionsFromUrl(url), 500)).rejects.toMatchObject({
      code: 'REDIS_UNAVAILABLE',
      message: expect.stringMatching(
        /start it or set REDIS_URL \(if that port takes plain connections, use redis:\/\/\)\.$/,
      ),
    });
  });

  it('suggests nothing when nothing listens', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await expect(assertRedisReachable(url, connectionOptionsFromUrl(url))).rejects.toMatchObject({
      message: expect.stringMatching(/\(ECONNREFUSED\); start it or set REDIS_URL\.$/),
    });
  });
});
