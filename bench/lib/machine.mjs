/** What the figures were measured on: printed with the table and kept in results.json. */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import Database from 'better-sqlite3';

export function describeMachine() {
  const memory = new Database(':memory:');
  const bundled = memory.prepare('SELECT sqlite_version() AS v').get().v;
  memory.close();
  const shell = sqliteShellVersion();
  return {
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    betterSqlite3Sqlite: bundled,
    sqlite3Shell: shell,
  };
}

/** Version of the `sqlite3` shell on PATH, or null when there is none (common on Windows). */
export function sqliteShellVersion() {
  const probe = spawnSync('sqlite3', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return null;
  return probe.stdout.trim().split(/\s+/).slice(0, 2).join(' ');
}

/** `cp` as a process; Windows has no `cp` binary (it is a shell built-in there, if anything). */
export function hasCp() {
  if (process.platform === 'win32') return false;
  const probe = spawnSync('cp', ['--version'], { stdio: 'ignore' });
  return !probe.error;
}
