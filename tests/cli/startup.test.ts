import { describe, expect, it } from 'vitest';
import { packagesLoadedBy } from '../helpers/loaded-packages.js';
import { sampleDb } from '../helpers/sqlite.js';

/** What the queue, the dashboard and job validation need; a command on one database must not pay for them. */
const QUEUE_PACKAGES = ['bullmq', 'ioredis', 'zod', 'express', '@bull-board/api', 'cli-progress'];

describe('gao-migrate start-up', () => {
  it('--help loads commander and nothing else', () => {
    const run = packagesLoadedBy(['--help']);
    expect(run.status).toBe(0);
    expect(run.packages).toEqual(['commander']);
  });

  it.each(['up', 'verify'])('%s on one database loads SQLite and the logger, not the queue', (op) => {
    const run = packagesLoadedBy([op, '--db', sampleDb()]);
    expect(run.status).toBe(op === 'up' ? 0 : 1);
    expect(run.packages).toEqual(expect.arrayContaining(['better-sqlite3', 'pino']));
    expect(run.packages.filter((name) => QUEUE_PACKAGES.includes(name))).toEqual([]);
  });

  it('enqueue refuses a bad flag before it loads the queue', () => {
    const run = packagesLoadedBy(['enqueue', 'up', '--migration', 'x', '--db', 'documents.db']);
    expect(run.status).toBe(2);
    expect(run.packages).toEqual(['commander']);
  });
});
