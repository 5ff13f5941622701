import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { redisForFile } from '../helpers/redis.js';
import { freshQueueName, send } from './helpers.js';

// The built CLI, as users run it (`npm test` builds first).
const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'gao-migrate.js');

const redis = redisForFile();
let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const {
    GAO_MIGRATE_DASHBOARD_USER: _user,
    GAO_MIGRATE_DASHBOARD_PASSWORD: _password,
    ...base
  } = process.env;
  child = spawn(process.execPath, [BIN, ...args], {
    env: { ...base, GAO_MIGRATE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const spawned = child;
  return {
    child: spawned,
    output: () => output,
    exited: new Promise((resolve) => spawned.once('exit', (code) => resolve(code))),
  };
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('gao-migrate dashboard', () => {
  it('refuses a non-loopback host without credentials, with a stable code', async () => {
    const cli = run(['dashboard', '--host', '0.0.0.0', '--port', '0'], { REDIS_URL: redis.url });
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toContain('(DASHBOARD_UNSAFE_BIND)');
  });

  it('refuses an empty --host as bad input, with or without credentials (it would bind every interface)', async () => {
    for (const host of ['', ' ']) {
      for (const credentials of [
        {},
        { GAO_MIGRATE_DASHBOARD_USER: 'ops', GAO_MIGRATE_DASHBOARD_PASSWORD: 'secret' },
      ]) {
        const cli = run(['dashboard', '--host', host, '--port', '0', '--queue', freshQueueName()], {
          REDIS_URL: redis.url,
          ...credentials,
        });
        expect(await cli.exited).toBe(2);
        expect(cli.output()).toBe(
          `gao-migrate: Option '--host <host>' argument '${host}' is invalid. Expected an address to bind, such as 127.0.0.1 or 0.0.0.0. (INVALID_INPUT)\n`,
        );
      }
    }
  });

  it('refuses half the credentials', async () => {
    const cli = run(['dashboard', '--port', '0'], {
      REDIS_URL: redis.url,
      GAO_MIGRATE_DASHBOARD_USER: 'ops',
    });
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toContain('(DASHBOARD_INCOMPLETE_CREDENTIALS)');
  });

  it('refuses a user name with a colon at start-up', async () => {
    const cli = run(['dashboard', '--port', '0'], {
      REDIS_URL: redis.url,
      GAO_MIGRATE_DASHBOARD_USER: 'ops:admin',
      GAO_MIGRATE_DASHBOARD_PASSWORD: 'secret',
    });
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toMatch(
      /^gao-migrate: The dashboard user name cannot contain a colon .*\(DASHBOARD_INVALID_CREDENTIALS\)\n$/,
    );
  });

  it('exits 2 with one sentence when its port is taken, instead of hanging on its Redis connection', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const cli = run(['dashboard', '--port', String(port), '--queue', freshQueueName()], {
        REDIS_URL: redis.url,
      });
      // Before the fix the process printed the refusal and then never exited: this wait ran out.
      const code = await Promise.race([
        cli.exited,
        new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 20_000)),
      ]);
      expect(code).toBe(2);
      expect(cli.output()).toContain(
        `gao-migrate: Cannot listen on 127.0.0.1:${port}: EADDRINUSE. (DASHBOARD_LISTEN_FAILED)\n`,
      );
      expect(cli.output()).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 30_000);

  it('answers to the hosts of --allowed-host and GAO_MIGRATE_DASHBOARD_ALLOWED_HOSTS, and refuses others', async () => {
    const cli = run(
      ['dashboard', '--port', '0', '--queue', freshQueueName(), '--allowed-host', 'dash.example.com'],
      { REDIS_URL: redis.url, GAO_MIGRATE_DASHBOARD_ALLOWED_HOSTS: 'proxy.internal:8443' },
    );
    const port = Number(
      await waitFor(
        () => /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(cli.output())?.[1],
        'the listening line',
      ),
    );
    const status = async (host: string) => (await send(port, '/fleet', { headers: { host } })).status;
    expect(await status('dash.example.com')).toBe(200);
    expect(await status('proxy.internal:8443')).toBe(200);
    expect(await status(`127.0.0.1:${port}`)).toBe(200);
    expect(await status(`attacker.example:${port}`)).toBe(421);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it('serves until SIGTERM, then closes and exits 0 without showing the Redis password', async () => {
    const url = new URL(redis.url);
    url.password = 'not-a-real-password';
    url.username = 'default';
    // The throwaway Redis has no password set, so its default user accepts any: the URL still carries one to hide.
    const cli = run(['dashboard', '--port', '0', '--read-only', '--queue', freshQueueName()], {
      REDIS_URL: url.toString(),
    });
    const base = await waitFor(
      () => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(cli.output())?.[1],
      'the listening line',
    );
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, redis: 'up' });
    expect((await fetch(`${base}/fleet`)).status).toBe(200);
    expect(cli.output()).toContain('redis://default:***@');
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(cli.output()).not.toContain('not-a-real-password');
  });
});
