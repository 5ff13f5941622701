import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/gao-migrate.js', import.meta.url));

/**
 * Runs the built CLI without blocking this process's event loop, so that a worker running in the test process
 * keeps consuming jobs while the command waits for them.
 */
export function runCliAsync(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNodeAsync(BIN, args, options);
}

/** Runs a Node script (the CLI, `npm run demo`'s) to its end, at log level silent unless `env` says otherwise. */
export function runNodeAsync(
  script: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: options.cwd,
      env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'silent', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A CLI process left running, for tests that signal it mid-run. */
export interface RunningCli {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Resolves true once stderr shows `text`, or false if the process ends without showing it. */
  stderrShows(text: string): Promise<boolean>;
  output(): { stdout: string; stderr: string };
}

/** Starts the built CLI at log level debug and keeps what it prints. */
export function startCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'debug', ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const stderrShows = (text: string) =>
    Promise.race([
      new Promise<boolean>((resolve) => {
        const look = () => {
          if (!stderr.includes(text)) return;
          child.stderr.off('data', look);
          resolve(true);
        };
        child.stderr.on('data', look);
        look();
      }),
      exited.then(() => stderr.includes(text)),
    ]);
  return { child, exited, stderrShows, output: () => ({ stdout, stderr }) };
}
