import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

/**
 * A private, throwaway `redis-server` (no persistence) on a free loopback port: for tests, and for `fleet` and
 * `demo` on a machine where no Redis answers. Needs `redis-server` on PATH.
 */
export interface LocalRedis {
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGKILL with `{ hard: true }`, like a crash) and waits for it to exit. */
  stop(options?: { hard?: boolean }): Promise<void>;
  /** Starts it again on the same port, empty (nothing is persisted). */
  restart(): Promise<void>;
}

export interface LocalRedisOptions {
  /** The `redis-server` to run. Default: the first on the process's PATH (`findRedisServer`). */
  binary?: string;
  /** Port to listen on (one another server holds fails, with redis-server's reason). Default: a free one. */
  port?: number;
  /** How long to wait for the server to answer, in ms. Default: 10000. */
  startTimeoutMs?: number;
  /** Serve TLS only (`rediss://`) with these PEM files. Default: plain TCP (`redis://`). */
  tls?: LocalRedisTls;
}

/** PEM files for a TLS-only server; clients are not asked for a certificate of their own. */
export interface LocalRedisTls {
  certFile: string;
  keyFile: string;
  /** The CA that signed `certFile` (redis-server requires one even when it asks clients for none). */
  caFile: string;
}

/** Full path of `redis-server` found on PATH (honouring PATHEXT on Windows), or null. */
export function findRedisServer(env: NodeJS.ProcessEnv = process.env): string | null {
  const names = process.platform === 'win32' ? ['redis-server.exe', 'redis-server'] : ['redis-server'];
  for (const directory of (env.PATH ?? '').split(path.delimiter)) {
    if (!directory) continue;
    for (const name of names) {
      const candidate = path.join(directory, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch {
        // not here
      }
    }
  }
  return null;
}

export const REDIS_INSTALL_HINT =
  'Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or run `docker compose up -d redis` and set REDIS_URL=redis://127.0.0.1:6379.';

export async function startLocalRedis(options: LocalRedisOptions = {}): Promise<LocalRedis> {
  const binary = options.binary ?? findRedisServer();
  if (!binary) throw new Error(`No redis-server on PATH. ${REDIS_INSTALL_HINT}`);
  const port = options.port ?? (await freePort());
  const timeout = options.startTimeoutMs ?? 10_000;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-redis-'));
  const launchOptions = { binary, port, directory, timeoutMs: timeout, tls: options.tls };
  let child: ChildProcess | undefined;
  try {
    child = await launch(launchOptions);
  } catch (error) {
    // No server to stop() later: nothing else would remove the directory.
    fs.rmSync(directory, { recursive: true, force: true });
    throw error;
  }

  const stop = async ({ hard = false } = {}) => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  return {
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    port,
    stop: async (stopOptions) => {
      await stop(stopOptions);
      fs.rmSync(directory, { recursive: true, force: true });
    },
    restart: async () => {
      await stop({ hard: true });
      child = await launch(launchOptions);
    },
  };
}

async function launch({
  binary,
  port,
  directory,
  timeoutMs,
  tls,
}: {
  binary: string;
  port: number;
  directory: string;
  timeoutMs: number;
  tls: LocalRedisTls | undefined;
}): Promise<ChildProcess> {
  const listen = tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        tls.certFile,
        '--tls-key-file',
        tls.keyFile,
        '--tls-ca-cert-file',
        tls.caFile,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A server that outlives its parent would hold the port: stop it with the process.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  child.once('exit', () => process.removeListener('exit', onExit));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // A binary that cannot be run (EACCES, ENOENT) is an 'error' event: unheard, it would end the process.
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  // 'close' comes once its output is read to the end: 'exit' may come first, before its last words (why it stopped).
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`Cannot run redis-server (${spawnError.message}).`);
    if (child.exitCode !== null || child.signalCode !== null) {
      // Within the start timeout: a process it started may hold its output open, and 'close' would never come.
      await settledWithin(closed, deadline - Date.now());
      const how = child.signalCode ? `on ${child.signalCode}` : `with code ${child.exitCode}`;
      throw new Error(`redis-server exited at start (${how}): ${output.trim().slice(-500)}`);
    }
    // Its own answer, not another server's: with the port taken, a Redis already there would answer for it.
    if (child.pid !== undefined && (await redisProcessId(port, tls !== undefined)) === child.pid)
      return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

/** Waits for `promise` at most `ms`, and leaves no timer behind to keep the process alive. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when something on 127.0.0.1:port answers a Redis PING. */
export function answersPing(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/**
 * The process id that the Redis on 127.0.0.1:port gives in `INFO server` (its certificate, with TLS, is not
 * checked: a readiness probe), or null: nothing there, no answer in time, a refusal (`-NOAUTH`), or not Redis.
 */
function redisProcessId(port: number, useTls: boolean, timeoutMs = 500): Promise<number | null> {
  return new Promise((resolve) => {
    const host = '127.0.0.1';
    const socket = useTls
      ? tls.connect({ port, host, rejectUnauthorized: false })
      : net.connect({ port, host });
    let reply = '';
    const done = (pid: number | null) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(timeoutMs, () => done(null));
    socket.once('error', () => done(null));
    socket.once(useTls ? 'secureConnect' : 'connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (data: Buffer) => {
      reply += data.toString();
      const found = /\r\nprocess_id:(\d+)\r\n/.exec(reply);
      if (found) done(Number(found[1]));
      // A bulk string is INFO's answer; anything else (an error, another protocol) will not name a process.
      else if (!reply.startsWith('$') || reply.length > 65_536) done(null);
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
