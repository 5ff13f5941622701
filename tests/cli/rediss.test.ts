import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rolloutsQueueName } from '../../src/fleet/rollout.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { runCli } from '../helpers/cli.js';
import { runCliAsync } from '../helpers/cli-async.js';
import { redisForFile } from '../helpers/redis.js';
import {
  CLI,
  type CliWorker,
  killQuietly,
  sampleDb,
  startCliWorker,
  tempDir,
  waitFor,
} from '../queue/helpers.js';

// A TLS-only redis-server whose certificate a throwaway CA signed, as managed Redis services (ElastiCache with
// in-transit encryption, Upstash, Azure Cache) are reached: rediss://, with a password.
const redis = redisForFile({ tls: true });
const PASSWORD = 'tls-s3cret-pw';
let url: string;
let caFile: string;
let queueName: string;
let dir: string;
const children: CliWorker[] = [];
let dashboard: ChildProcess | undefined;

/** This process's connection to the test Redis: it trusts the CA in its options, not through the environment. */
function trustedOptions(): RedisOptions {
  return { ...connectionOptionsFromUrl(url), tls: { ca: fs.readFileSync(caFile) } };
}

/** What a user whose machine trusts the CA runs with: NODE_EXTRA_CA_CERTS, read by Node at start. */
function trustingEnv(): NodeJS.ProcessEnv {
  return { REDIS_URL: url, NODE_EXTRA_CA_CERTS: caFile, GAO_MIGRATE_QUEUE: queueName };
}

beforeAll(async () => {
  caFile = redis.caFile as string;
  url = redis.url.replace('rediss://', `rediss://:${PASSWORD}@`);
  const admin = new Redis({ ...connectionOptionsFromUrl(redis.url), tls: { ca: fs.readFileSync(caFile) } });
  await admin.config('SET', 'requirepass', PASSWORD);
  admin.disconnect();
});
beforeEach(() => {
  queueName = `test-${randomUUID()}`;
  dir = tempDir();
});
afterEach(async () => {
  for (const child of children.splice(0)) await killQuietly(child);
  if (dashboard && dashboard.exitCode === null && dashboard.signalCode === null) dashboard.kill('SIGKILL');
  dashboard = undefined;
  for (const name of [queueName, rolloutsQueueName(queueName)]) {
    const queue = new Queue(name, { connection: trustedOptions() });
    await queue.obliterate({ force: true });
    await queue.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

async function trustingWorker(): Promise<CliWorker> {
  const worker = await startCliWorker({ ...trustingEnv(), GAO_MIGRATE_ROOTS: dir });
  children.push(worker);
  return worker;
}

function verifyStatus(dbPath: string): unknown {
  return JSON.parse(runCli(['verify', '--db', dbPath, '--json']).stdout).status;
}

describe('rediss:// (Redis over TLS)', () => {
  it('migrates a real database through enqueue --wait and a worker, trusting the CA through NODE_EXTRA_CA_CERTS', async () => {
    const dbPath = sampleDb(dir, 'alpha');
    const worker = await trustingWorker();
    const run = await runCliAsync(['enqueue', 'up', '--db', dbPath, '--wait', '--json'], {
      env: trustingEnv(),
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [job] = JSON.parse(run.stdout).jobs;
    expect(job).toMatchObject({ dbPath, state: 'completed', result: { status: 'applied' } });
    expect(fs.existsSync(job.result.backupPath)).toBe(true);
    expect(verifyStatus(dbPath)).toBe('verified');
    expect(worker.stderr()).toContain('rediss://:***@127.0.0.1');
    expect(worker.stderr()).not.toContain(PASSWORD);
  });

  it('rolls a fleet out through rediss://: fleet up --wait, then status', async () => {
    const dbPaths = ['one', 'two', 'three'].map((name) => sampleDb(dir, name));
    await trustingWorker();
    const pattern = path.join(dir, '*', '.gao-dev', 'documents.db');
    const rollout = await runCliAsync(['fleet', 'up', '--glob', pattern, '--canary', '1', '--wait'], {
      env: trustingEnv(),
    });
    expect(rollout.stderr).toBe('');
    expect(rollout.code).toBe(0);
    expect(rollout.stdout).toMatch(/: completed\n3 done, 0 failed/);
    for (const dbPath of dbPaths) expect(verifyStatus(dbPath)).toBe('verified');
    const status = await runCliAsync(['status'], { env: trustingEnv() });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^rollout-\S+\s/);
  });

  it('serves the dashboard from a rediss:// Redis', async () => {
    await new Queue(queueName, { connection: trustedOptions() }).close();
    const started = spawn(process.execPath, [CLI, 'dashboard', '--port', '0'], {
      env: { ...process.env, ...trustingEnv(), GAO_MIGRATE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dashboard = started;
    let output = '';
    started.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const listening = await waitFor(() => {
      if (started.exitCode !== null) throw new Error(`dashboard exited: ${output}`);
      return /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output)?.[1];
    }, 'the dashboard to listen');
    const health = await fetch(`${listening}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, redis: 'up' });
    const metrics = await fetch(`${listening}/metrics`);
    expect(metrics.status).toBe(200);
    expect(output).not.toContain(PASSWORD);
  });
});
