import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { Migrator } from '../../src/engine/migrator.js';
import { createFleetClient, type FleetClient } from '../../src/fleet/client.js';
import { type RolloutController, startRolloutController } from '../../src/fleet/controller.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { createSampleDatabase } from '../../src/sample/create-sample-database.js';
import { createMigrationWorker, type MigrationWorker } from '../../src/worker/migration-worker.js';

/** A directory of project databases, a worker and a rollout controller on a fresh queue, and a fleet client. */
export interface FleetRig {
  root: string;
  queueName: string;
  fleet: FleetClient;
  worker: MigrationWorker;
  controller: RolloutController;
  close(): Promise<void>;
}

export async function startFleetRig(
  redisUrl: string,
  options: { busyTimeoutMs?: number } = {},
): Promise<FleetRig> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-fleet-'));
  const queueName = `test-${randomUUID()}`;
  const connection = connectionOptionsFromUrl(redisUrl);
  const worker = createMigrationWorker({
    redisUrl,
    queueName,
    roots: [root],
    logger: pino({ level: 'silent' }),
    busyTimeoutMs: options.busyTimeoutMs ?? 5000,
  });
  const controller = startRolloutController({ connection, queueName, pollMs: 50 });
  const fleet = createFleetClient({ connection, queueName });
  return {
    root,
    queueName,
    fleet,
    worker,
    controller,
    async close() {
      await Promise.all([fleet.close(), controller.close(), worker.close()]);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** `<root>/<name>/.gao-dev/documents.db`, a small real 005 database. */
export function makeProject(root: string, name: string, learnings = 50): string {
  const dbPath = path.join(root, name, '.gao-dev', 'documents.db');
  createSampleDatabase(dbPath, { learnings, epics: 3, documents: 5 });
  return dbPath;
}

/**
 * A project with 006 applied. `applications` learning applications are recorded against learning 1, whose
 * `application_count` then says so: what a `down` of it discards.
 */
export function makeAppliedProject(root: string, name: string, applications = 0): string {
  const dbPath = makeProject(root, name);
  const result = new Migrator().up({ dbPath });
  if (result.status !== 'applied') throw new Error(`up failed on ${dbPath}: ${result.error?.message}`);
  if (applications > 0) {
    const db = new Database(dbPath);
    const add = db.prepare(
      "INSERT INTO learning_applications (learning_id, outcome, applied_at) VALUES (1, 'success', 'now')",
    );
    for (let i = 0; i < applications; i++) add.run();
    db.prepare('UPDATE learning_index SET application_count = ? WHERE id = 1').run(applications);
    db.close();
  }
  for (const entry of fs.readdirSync(path.dirname(dbPath))) {
    if (entry.includes('.backup_')) fs.rmSync(path.join(path.dirname(dbPath), entry));
  }
  return dbPath;
}

/**
 * A project whose `up` fails after its backup is written: a trigger of the user's refuses the insert into
 * schema_version (MIGRATION_FAILED; the database is unchanged, the backup stays).
 */
export function makeFrozenProject(root: string, name: string): string {
  const dbPath = makeProject(root, name);
  const db = new Database(dbPath);
  db.exec(
    "CREATE TRIGGER frozen BEFORE INSERT ON schema_version BEGIN SELECT RAISE(ABORT, 'schema_version is frozen'); END",
  );
  db.close();
  return dbPath;
}

/** A file where a database should be that is not one: preflight and migrations refuse it. */
export function makeBrokenProject(root: string, name: string): string {
  const dbPath = path.join(root, name, '.gao-dev', 'documents.db');
  fs.mkdirSync(path.dirname(dbPath), { recursive: true });
  fs.writeFileSync(dbPath, 'this is not a database\n');
  return dbPath;
}

export function filesIn(directory: string): string[] {
  return fs.readdirSync(directory, { recursive: true, encoding: 'utf8' }).sort();
}

/**
 * Copies of the database beside it under the three names gao-migrate gives its backups (`.backup_`,
 * `.rollback_backup_`, `.pre_restore_backup_` and a timestamp), as earlier runs and restores leave them, where a
 * glob such as `*\/.gao-dev/*.db` matches them too. Returns their paths.
 */
export function addBackupsBeside(dbPath: string): string[] {
  const { dir, name, ext } = path.parse(dbPath);
  return ['backup', 'rollback_backup', 'pre_restore_backup'].map((kind) => {
    const backup = path.join(dir, `${name}.${kind}_20261124T101500123Z${ext}`);
    fs.copyFileSync(dbPath, backup);
    return backup;
  });
}
