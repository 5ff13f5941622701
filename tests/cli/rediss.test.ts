import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rolloutsQueueName } from '../../src/fleet/rollout.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { assertRedisReachable } from '../../src/queue/redis-check.js';
import { type CliRun, hasStackTrace, runCli } from '../helpers/cli.js';
import { runCliAsync } from '../helpers/cli-async.js';
import { redisForFile } from '../helpers/redis.js';
import {
  CLI,
  type CliWorker,
  killQuietly,
  sampleDb,
  sha256,
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

/** A machine that does not trust the CA: Node's own store only (NODE_EXTRA_CA_CERTS unset). */
function distrustingEnv(): NodeJS.ProcessEnv {
  return {
    REDIS_URL: url,
    NODE_EXTRA_CA_CERTS: undefined,
    GAO_MIGRATE_QUEUE: queueName,
    GAO_MIGRATE_ROOTS: dir,
  };
}

/** Every file under `dir` with its SHA-256, to show that nothing was written. */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    files[file] = entry.isFile() ? sha256(file) : entry.isDirectory() ? 'dir' : 'other';
  }
  return files;
}

const UNTRUSTED =
  /^gao-migrate: Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+ presented a TLS certificate this machine does not trust \(SELF_SIGNED_CERT_IN_CHAIN\); .*NODE_EXTRA_CA_CERTS.*\. \(REDIS_TLS_UNTRUSTED\)$/;

function expectUntrustedRefusal(run: CliRun): void {
  expect(run.status).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr.trim()).toMatch(UNTRUSTED);
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  expect(hasStackTrace(run.stderr)).toBe(false);
  expect(run.stderr).not.toContain(PASSWORD);
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
    expect(status.stdout).toMatch(/^ROLLOUT\s.*\nrollout-\S+\s+up\s+completed\s+3\s+0\s+0\s+3\n/);
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

  describe('a certificate this machine does not trust', () => {
    it('ends enqueue, fleet and status with one sentence (REDIS_TLS_UNTRUSTED), exit 2, nothing written or queued', async () => {
      const dbPath = sampleDb(dir, 'untouched');
      const before = snapshot(dir);
      const runs = [
        ['enqueue', 'up', '--db', dbPath],
        ['enqueue', 'up', '--db', dbPath, '--wait'],
        ['fleet', 'up', '--db', dbPath, '--wait'],
        ['status'],
      ].map((args) => runCli(args, { env: distrustingEnv() }));
      for (const run of runs) expectUntrustedRefusal(run);

      const json = runCli(['enqueue', 'up', '--db', dbPath, '--json'], { env: distrustingEnv() });
      expect(json.status).toBe(2);
      expect(JSON.parse(json.stdout)).toEqual({
        ok: false,
        error: {
          code: 'REDIS_TLS_UNTRUSTED',
          message: expect.stringMatching(/NODE_EXTRA_CA_CERTS/),
          retryable: false,
        },
      });
      expect(json.stdout + json.stderr).not.toContain(PASSWORD);

      expect(snapshot(dir)).toEqual(before);
      const queue = new Queue(queueName, { connection: trustedOptions() });
      expect(await queue.count()).toBe(0);
      await queue.close();
    });

    it('stops a worker and the dashboard at start with the same sentence, rather than retrying for ever', () => {
      const dbPath = sampleDb(dir, 'untouched');
      const before = snapshot(dir);
      expectUntrustedRefusal(runCli(['worker'], { env: distrustingEnv() }));
      expectUntrustedRefusal(runCli(['dashboard', '--port', '0'], { env: distrustingEnv() }));
      expect(snapshot(dir)).toEqual(before);
      expect(fs.existsSync(dbPath)).toBe(true);
    });

    it('names a certificate made out to another host as untrusted too (createProducer and the library)', async () => {
      const options = {
        ...trustedOptions(),
        tls: { ca: fs.readFileSync(caFile), servername: 'redis.example' },
      };
      await expect(assertRedisReachable(url, options)).rejects.toMatchObject({
        code: 'REDIS_TLS_UNTRUSTED',
        message: expect.stringContaining('(ERR_TLS_CERT_ALTNAME_INVALID)'),
      });
      // Trusted and made out to 127.0.0.1: reachable.
      await expect(assertRedisReachable(url, trustedOptions())).resolves.toBeUndefined();
    });
  });
});
