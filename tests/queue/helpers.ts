import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { createSampleDatabase } from '../../src/sample/create-sample-database.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = path.join(REPO_ROOT, 'bin', 'gao-migrate.js');
const HOLD_LOCK = fileURLToPath(new URL('../worker/fixtures/hold-lock.mjs', import.meta.url));

/** A fresh temporary directory, as its real path (so it compares equal to what the worker resolves). */
export function tempDir(prefix = 'gao-migrate-queue-'): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

/** A real 005 database at `<dir>/<name>/.gao-dev/documents.db`. */
export function sampleDb(dir: string, name: string, learnings = 200): string {
  const dbPath = path.join(dir, name, '.gao-dev', 'documents.db');
  createSampleDatabase(dbPath, { learnings, epics: 3, documents: 5 });
  return dbPath;
}

/** Polls until `check` returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  { timeoutMs = 30_000, intervalMs = 25 } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A pino logger whose JSON lines are kept in `lines` (pino's `sink()` habit). */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** Another process holding `BEGIN EXCLUSIVE` on the database until `release()`. */
export async function holdSqliteLock(dbPath: string): Promise<{ release: () => Promise<void> }> {
  const child = spawn(process.execPath, [HOLD_LOCK, dbPath], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(() => output.includes('locked') || child.exitCode !== null, 'the lock holder');
  if (!output.includes('locked')) throw new Error('the lock holder exited early');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    release: async () => {
      if (child.exitCode === null) child.stdin.write('release\n');
      await exited;
    },
  };
}

export interface CliWorker {
  child: ChildProcess;
  /** Parsed JSON log lines from stderr so far. */
  lines: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    what: string,
  ): Promise<Record<string, unknown>>;
}

/** Starts `gao-migrate worker` as a child process and resolves once it logged "worker started". */
export async function startCliWorker(env: NodeJS.ProcessEnv, args: string[] = []): Promise<CliWorker> {
  const child = spawn(process.execPath, [CLI, 'worker', ...args], {
    env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let text = '';
  let pending = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part));
      } catch {
        // not a log line
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const worker: CliWorker = {
    child,
    lines,
    stderr: () => text,
    exited,
    waitForLog: (predicate, what) =>
      waitFor(
        () => {
          if (child.exitCode !== null)
            throw new Error(`worker exited (${child.exitCode}): ${text.slice(-2000)}`);
          return lines.find(predicate);
        },
        what,
        { timeoutMs: 45_000 },
      ),
  };
  await worker.waitForLog((line) => line.msg === 'worker started', 'the worker to start');
  return worker;
}

/** Stops a child worker if a test left it running. */
export async function killQuietly(worker: CliWorker | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGKILL');
  await worker.exited;
}

export function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
