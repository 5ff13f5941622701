import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import {
  changeToFollow,
  LAST_CHANGES_TTL_SECONDS,
  lastChangesKeyOf,
  readLastChanges,
  recordChanges,
  removeLastChanges,
} from '../../src/queue/last-changes.js';
import { redisForFile } from '../helpers/redis.js';

const redis = redisForFile();
const queues: Queue[] = [];

function queueNamed(name: string): Queue {
  const queue = new Queue(name, { connection: connectionOptionsFromUrl(redis.url) });
  queues.push(queue);
  return queue;
}

afterEach(async () => {
  for (const queue of queues.splice(0)) {
    await removeLastChanges(queue);
    await queue.close();
  }
});

describe('last changes', () => {
  it('records each change as its database last, for 30 days, and reads them back in one call', async () => {
    const queue = queueNamed(`test-${randomUUID()}`);
    const client = await queue.client;
    const [a, b, c] = ['/p/a.db', '/p/b.db', '/p/c.db'].map((db) => lastChangesKeyOf(queue, db)) as [
      string,
      string,
      string,
    ];
    await recordChanges(client, [a, b], 'migrate-up', ['1', '2']);
    await recordChanges(client, [a], 'migrate-down', ['3']);
    expect(await readLastChanges(client, [a, b, c])).toEqual([
      { 'migrate-up': '1', 'migrate-down': '3', change: '3' },
      { 'migrate-up': '2', 'migrate-down': null, change: '2' },
      { 'migrate-up': null, 'migrate-down': null, change: null },
    ]);
    expect(await (client as unknown as Redis).ttl(a)).toBeGreaterThan(LAST_CHANGES_TTL_SECONDS - 60);
  });

  it('has an up follow the last down, a down the last up, and a verify or a dry run the last of either', () => {
    const last = { 'migrate-up': '1', 'migrate-down': '3', change: '3' };
    expect(changeToFollow(last, 'migrate-up', false)).toBe('3');
    expect(changeToFollow(last, 'migrate-down', false)).toBe('1');
    expect(changeToFollow(last, 'verify', false)).toBe('3');
    expect(changeToFollow(last, 'migrate-down', true)).toBe('3');
  });

  it("removes a queue's last changes only, whatever its name holds", async () => {
    const base = `test-${randomUUID()}`;
    // Unescaped, the first name's * would match the second's 'xyz'.
    const odd = queueNamed(`${base}-*`);
    const other = queueNamed(`${base}-xyz`);
    const client = await odd.client;
    const redisClient = client as unknown as Redis;
    await recordChanges(
      client,
      [lastChangesKeyOf(odd, '/p/a.db'), lastChangesKeyOf(odd, '/p/b.db')],
      'migrate-up',
      ['1', '2'],
    );
    const kept = lastChangesKeyOf(other, '/p/a.db');
    await recordChanges(client, [kept], 'migrate-up', ['7']);
    expect(await removeLastChanges(odd)).toBe(2);
    expect(await redisClient.exists(kept)).toBe(1);
    expect(await redisClient.exists(lastChangesKeyOf(odd, '/p/a.db'), lastChangesKeyOf(odd, '/p/b.db'))).toBe(
      0,
    );
  });
});
