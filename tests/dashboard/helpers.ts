import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { type ConnectionOptions, type Job, type JobType, Queue, Worker } from 'bullmq';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import type { MigrationJobData } from '../../src/queue/contract.js';

export function freshQueueName(): string {
  return `test-dashboard-${randomUUID()}`;
}

export function connectionFor(redisUrl: string): ConnectionOptions {
  return connectionOptionsFromUrl(redisUrl);
}

/** What a worker would return for a database: close enough to MigrationJobResult for the dashboard. */
export function fakeResult(dbPath: string, durationMs: number) {
  const backupPath = dbPath.replace(/documents\.db$/, 'documents.backup_20260101T000000000Z.db');
  return {
    ok: true,
    op: 'up',
    migration: '006',
    db: dbPath,
    status: 'applied',
    dryRun: false,
    backupPath,
    backupSha256: 'ab'.repeat(32),
    durationMs,
    verification: null,
    plan: [],
    steps: [],
    discarded: [],
    error: null,
    worker: { host: 'test-host', pid: process.pid },
    lockWaitMs: 0,
  };
}

export interface SeededFleet {
  queue: Queue;
  rolloutId: string;
  completed: string[];
  failed: string[];
  active: string[];
  waiting: string[];
  delayed: string[];
  /** Lets the held active job finish, closes the worker, removes the queue and closes it. */
  cleanup(): Promise<void>;
}

/**
 * A rollout in every state, through a real worker on a real Redis: databases containing `ok` complete with a
 * result, `bad` fail with "database is locked", `hold` stays active until cleanup; then more are added to wait
 * behind it and one delayed.
 */
export async function seedRollout(
  redisUrl: string,
  queueName: string,
  rolloutId: string,
  paths: { completed: string[]; failed: string[]; active: string[]; waiting: string[]; delayed: string[] },
): Promise<SeededFleet> {
  const connection = connectionFor(redisUrl);
  const queue = new Queue<MigrationJobData>(queueName, { connection });
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const processor = async (job: Job<MigrationJobData>) => {
    if (job.data.dbPath.includes('hold')) await held;
    if (job.data.dbPath.includes('bad')) throw new Error(`database is locked: ${job.data.dbPath}`);
    return fakeResult(job.data.dbPath, 100 + job.data.dbPath.length * 37);
  };
  const add = (dbPath: string, delay?: number) =>
    queue.add('migrate-up', { dbPath, migration: '006', rolloutId }, { attempts: 1, delay });

  for (const dbPath of [...paths.completed, ...paths.failed, ...paths.active]) await add(dbPath);
  const worker = new Worker<MigrationJobData>(queueName, processor, { connection, concurrency: 1 });
  worker.on('error', () => {});
  await waitForCounts(queue, {
    completed: paths.completed.length,
    failed: paths.failed.length,
    active: paths.active.length,
  });
  // The worker is busy with the held job (concurrency 1), so these stay waiting and delayed.
  for (const dbPath of paths.waiting) await add(dbPath);
  for (const dbPath of paths.delayed) await add(dbPath, 3_600_000);

  return {
    queue,
    rolloutId,
    ...paths,
    cleanup: async () => {
      release();
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

export async function waitForCounts(
  queue: Queue,
  expected: Partial<Record<JobType, number>>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let counts: Record<string, number> = {};
  while (Date.now() < deadline) {
    counts = await queue.getJobCounts(...(Object.keys(expected) as JobType[]));
    if (Object.entries(expected).every(([state, count]) => counts[state] === count)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`queue never reached ${JSON.stringify(expected)}; last ${JSON.stringify(counts)}`);
}

export function basicHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** `name{labels} value` lines of a Prometheus text body, as a map from `name{labels}` to the number. */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

export interface Answer {
  status: number;
  body: string;
}

/**
 * One request with exactly these headers: fetch (undici) refuses to send a `Host` of our choosing. An empty
 * `host` sends none at all (node would otherwise fill in its own).
 */
export function send(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const { host, ...others } = options.headers ?? {};
  const headers = host === '' ? others : options.headers;
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers, setHost: host !== '' },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
