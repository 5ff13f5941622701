import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI's entry point. */
export const CLI_BIN = fileURLToPath(new URL('../../bin/gao-migrate.js', import.meta.url));

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/gao-migrate.js ...args` (the built CLI) in `cwd`, logs at `info` unless told. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliRun {
  const result = spawnSync(process.execPath, [CLI_BIN, ...args], {
    cwd: options.cwd ?? path.dirname(CLI_BIN),
    env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'info', ...options.env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The user the CLI runs as in `runCliUnprivileged` when the tests run as root (nobody). */
export const UNPRIVILEGED_UID = 65534;

/**
 * Runs the built CLI as a user whom file permissions bind. Root is never refused by them, so as root the CLI runs
 * as nobody (setpriv, util-linux): the files it must read need to be that user's, or readable by anyone.
 */
export function runCliUnprivileged(args: string[]): CliRun {
  const asUser =
    process.getuid?.() === 0
      ? [
          'setpriv',
          `--reuid=${UNPRIVILEGED_UID}`,
          `--regid=${UNPRIVILEGED_UID}`,
          '--clear-groups',
          process.execPath,
        ]
      : [process.execPath];
  const result = spawnSync(asUser[0] as string, [...asUser.slice(1), CLI_BIN, ...args], {
    env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The single JSON object a `--json` run printed on stdout. */
export function jsonOf(run: CliRun): Record<string, unknown> {
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

export function hasStackTrace(text: string): boolean {
  return /\n\s+at .+:\d+:\d+/.test(text);
}
