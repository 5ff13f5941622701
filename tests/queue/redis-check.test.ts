import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/queue/local-redis.js';

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
