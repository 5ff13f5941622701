// Another gao-dev process on the same database: inserts one learning per short transaction (and reads), prints
// `committed <topic>` after each COMMIT returned, `busy` when it gave up waiting. On stdin: `hold <ms>` keeps
// the write lock for that long once; `read <ms>` has a second connection hold a read transaction (its snapshot)
// that long while the writes go on, printing `reading` once it holds it and `read done` after; `stop` ends it.
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';

const db = new Database(process.argv[2], { fileMustExist: true, timeout: 30_000 });
let holdMs = 0;
let stopping = false;
const reader = new Database(process.argv[2], { fileMustExist: true, readonly: true, timeout: 30_000 });
const holdSnapshot = (ms) => {
  reader.exec('BEGIN');
  reader.prepare('SELECT count(*) FROM learning_index').pluck().get();
  process.stdout.write('reading\n');
  setTimeout(() => {
    if (!reader.open) return;
    reader.exec('COMMIT');
    process.stdout.write('read done\n');
  }, ms);
};
process.stdin.on('data', (chunk) => {
  for (const line of chunk.toString().split('\n')) {
    if (line.startsWith('hold ')) holdMs = Number(line.slice(5));
    if (line.startsWith('read ')) holdSnapshot(Number(line.slice(5)));
    if (line.trim() === 'stop') stopping = true;
  }
});
const insert = () =>
  db.prepare(
    `INSERT INTO learning_index (topic, category, learning, indexed_at, created_at)
     VALUES (?, 'process', 'written while a migration runs', datetime('now'), datetime('now'))`,
  );
process.stdout.write('ready\n');
let index = 0;
while (!stopping) {
  const topic = `writer-${process.pid}-${index++}`;
  try {
    db.exec('BEGIN IMMEDIATE');
    insert().run(topic);
    db.prepare('SELECT count(*) FROM learning_index').pluck().get();
    if (holdMs > 0) {
      const ms = holdMs;
      holdMs = 0;
      process.stdout.write(`holding ${ms}\n`);
      await sleep(ms);
    }
    db.exec('COMMIT');
    process.stdout.write(`committed ${topic}\n`);
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    process.stdout.write(`busy ${error.code ?? error.message}\n`);
  }
  await sleep(3);
}
db.close();
reader.close();
process.stdout.write('stopped\n');
process.stdin.destroy();
