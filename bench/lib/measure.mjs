/**
 * One measurement each: the engine (or the CLI process) and its bare-minimum baseline, on a fresh copy of a
 * database every time. Copies made to set a run up are not timed; the copy a baseline makes as its "backup" is.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createBackup } from '../../dist/engine/backup.js';
import { Migrator } from '../../dist/engine/migrator.js';
import { removeDatabase } from './databases.mjs';
import { time } from './stats.mjs';

const CLI = fileURLToPath(new URL('../../bin/gao-migrate.js', import.meta.url));

/**
 * Lets the event loop turn, as a caller running the engine many times in a row should between runs: each
 * backup's background flush closes its descriptor in a callback (see MAX_FLUSHES_IN_FLIGHT in backup-check.ts).
 */
export function turnEventLoop() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Copies `source` to `target` (replacing it and its leftovers), untimed set-up for one run. */
export function freshCopy(source, target) {
  removeDatabase(target);
  fs.copyFileSync(source, target);
  return target;
}

/** Like `freshCopy`, with the source's `-wal` copied beside the target when it has one. */
export function freshCopyWithWal(source, target) {
  freshCopy(source, target);
  if (fs.existsSync(`${source}-wal`)) fs.copyFileSync(`${source}-wal`, `${target}-wal`);
  return target;
}

/** A WAL-mode copy of `source` at `target`; its WAL is empty (SQLite folds it in when the connection closes). */
export function walCopy(source, target) {
  freshCopy(source, target);
  const db = new Database(target);
  db.pragma('journal_mode = WAL');
  db.close();
  return target;
}

/**
 * A WAL-mode copy of `source` at `target` whose `-wal` holds committed frames no checkpoint has folded in: what a
 * reader holding its snapshot leaves. Made by copying the pair while the writer is still open (its closing would
 * checkpoint), so a fresh pair can be copied for each run with `freshCopyWithWal`.
 */
export function walWithFrames(source, target) {
  const writer = new Database(walCopy(source, `${target}.writer`));
  writer.pragma('wal_autocheckpoint = 0');
  writer.exec("UPDATE learning_index SET topic = topic || ' (revised)' WHERE id % 100 = 0");
  // Copied in this process, which drops the writer's POSIX locks: harmless here, nothing else opens these files.
  fs.copyFileSync(`${target}.writer`, target);
  fs.copyFileSync(`${target}.writer-wal`, `${target}-wal`);
  writer.close();
  removeDatabase(`${target}.writer`);
  return target;
}

/** The engine in-process: `new Migrator().run(op)`; returns engine time and per-step times. */
export function engineRun(op, dbPath, expectedStatus) {
  const result = new Migrator().run(op, { dbPath });
  if (result.status !== expectedStatus) {
    throw new Error(`engine ${op} ended ${result.status}: ${result.error?.message ?? ''}`);
  }
  return { ms: result.durationMs, steps: result.steps };
}

/** The plan (SQL statements) a direction would run on this database, from a dry run. */
export function planOf(op, dbPath) {
  const result = new Migrator().run(op, { dbPath, dryRun: true });
  if (result.status !== 'planned') throw new Error(`dry run of ${op} ended ${result.status}`);
  return result.plan;
}

/**
 * Bare minimum in-process: a plain file copy as the backup, then the same statements by better-sqlite3 in one
 * transaction (foreign keys off around it for down, as the rebuild needs).
 */
export function rawRun(dbPath, plan, { foreignKeysOff }) {
  const backup = `${dbPath}.raw-copy`;
  const copy = time(() => fs.copyFileSync(dbPath, backup));
  const sql = time(() => {
    const db = new Database(dbPath);
    if (foreignKeysOff) db.pragma('foreign_keys = OFF');
    db.exec('BEGIN IMMEDIATE');
    for (const statement of plan) db.exec(statement);
    db.exec('COMMIT');
    db.close();
  });
  fs.rmSync(backup, { force: true });
  return { ms: copy.ms + sql.ms, copyMs: copy.ms, sqlMs: sql.ms };
}

/**
 * Bare minimum for verify: the integrity and foreign-key checks on the two tables, nothing else. Read-write, as the
 * engine's verify opens it: on a read-only connection SQLite's quick_check skips CHECK constraints, which on
 * learning_index's million rows is most of its cost (until 2026-12-03 this baseline was read-only, so verify
 * looked 2.6x slower than the same checks).
 */
export function rawVerify(dbPath) {
  return time(() => {
    const db = new Database(dbPath);
    db.pragma('quick_check');
    db.pragma('foreign_key_check(learning_index)');
    db.pragma('foreign_key_check(learning_applications)');
    db.close();
  });
}

/** The engine's backup alone (under the write lock, as the engine takes it), vs a plain copy. */
export function engineBackup(dbPath) {
  const db = new Database(dbPath);
  db.exec('BEGIN IMMEDIATE');
  try {
    const { ms, value } = time(() => createBackup(db, dbPath, 'backup', new Date()));
    fs.rmSync(value.path, { force: true });
    return { ms, method: value.method };
  } finally {
    db.exec('ROLLBACK');
    db.close();
  }
}

/**
 * A copy by `fs.copyFileSync` (of the `-wal` too, with `wal`); with `flush`, made durable (fsync) as a backup must
 * be; with `check`, quick_checked (which reads the copied WAL's frames through SQLite's recovery); with `hash`,
 * its SHA-256 read back and its directory entry flushed too: everything a backup as gao-migrate promises it must
 * do (durable under its name, checked, its checksum known), done the plainest way.
 */
export function plainCopy(dbPath, { check, flush = false, wal = false, hash = false }) {
  const target = `${dbPath}.plain-copy`;
  const measured = time(() => {
    fs.copyFileSync(dbPath, target);
    if (wal) fs.copyFileSync(`${dbPath}-wal`, `${target}-wal`);
    if (flush) {
      const fd = fs.openSync(target, 'r+');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    if (check) {
      const db = new Database(target, { readonly: !wal });
      db.pragma('quick_check');
      db.close();
    }
    if (hash) {
      createHash('sha256').update(fs.readFileSync(target)).digest('hex');
      const dir = fs.openSync(path.dirname(target), 'r');
      fs.fsyncSync(dir);
      fs.closeSync(dir);
    }
  });
  removeDatabase(target);
  return measured;
}

/** The whole `gao-migrate <op> --db X` process, wall time. */
export function cliProcess(op, dbPath) {
  const { ms, value } = time(() =>
    spawnSync(process.execPath, [CLI, op, '--db', dbPath], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  if (value.status !== 0)
    throw new Error(`gao-migrate ${op} exited ${value.status}: ${value.stdout}${value.stderr}`);
  return { ms };
}

/** Node start-up plus the CLI's module loading, without touching a database: `gao-migrate --help`. */
export function cliStartup() {
  return time(() => spawnSync(process.execPath, [CLI, '--help'], { stdio: 'ignore' }));
}

/** The SQL file the sqlite3 shell runs: the plan in one transaction, `-bail` stops it at the first error. */
export function writePlanFile(filePath, plan, { foreignKeysOff }) {
  const lines = [
    foreignKeysOff ? 'PRAGMA foreign_keys = OFF;' : 'PRAGMA foreign_keys = ON;',
    'BEGIN IMMEDIATE;',
  ];
  for (const statement of plan) lines.push(`${statement};`);
  lines.push('COMMIT;', '');
  fs.writeFileSync(filePath, lines.join('\n'));
  return filePath;
}

/** `cp X X.copy` then `sqlite3 -bail X < plan.sql`, two processes, wall time of both. */
export function shellProcess(dbPath, planFile) {
  const copyTarget = path.join(path.dirname(dbPath), `${path.basename(dbPath)}.cp-copy`);
  const { ms } = time(() => {
    const cp = spawnSync('cp', [dbPath, copyTarget], { stdio: 'ignore' });
    if (cp.status !== 0) throw new Error('cp failed');
    const fd = fs.openSync(planFile, 'r');
    try {
      const shell = spawnSync('sqlite3', ['-bail', dbPath], {
        stdio: [fd, 'ignore', 'pipe'],
        encoding: 'utf8',
      });
      if (shell.status !== 0 || shell.stderr) throw new Error(`sqlite3 failed: ${shell.stderr}`);
    } finally {
      fs.closeSync(fd);
    }
  });
  fs.rmSync(copyTarget, { force: true });
  return { ms };
}
