#!/usr/bin/env node
// Migration 006 on one database, in this process, with the engine alone: no Redis, no worker, no file lock.
// (The CLI's `gao-migrate up` does the same and also takes `<db>.lock`, so that it never runs beside a queued job.)
//
//   node examples/migrate-one-database.mjs path/to/.gao-dev/documents.db
import { Migrator } from 'gao-migrate/engine';

const dbPath = process.argv[2] ?? '.gao-dev/documents.db';
const migrator = new Migrator();

// Synchronous, never throws for a failure: the result says what happened, and where the backup is.
const up = migrator.up({ dbPath });
if (!up.ok) {
  console.error(`up failed: ${up.error.code}: ${up.error.message}`);
  process.exit(2);
}
console.log(`up: ${up.status}${up.backupPath ? `, backup ${up.backupPath}` : ''} (${up.durationMs} ms)`);

const verify = migrator.verify({ dbPath });
console.log(`verify: ${verify.status}`);
process.exit(verify.ok ? 0 : 1);
