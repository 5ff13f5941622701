#!/usr/bin/env node
// A migration worker embedded in your own Node process (what `gao-migrate worker` runs): concurrency 1, the
// databases under the given directories only, SIGINT or SIGTERM letting the job in hand finish first.
//
//   REDIS_URL=redis://127.0.0.1:6379 node examples/worker.mjs /srv/projects [/more/roots ...]
import { createMigrationWorker } from 'gao-migrate/worker';

const roots = process.argv.length > 2 ? process.argv.slice(2) : [process.cwd()];
const { worker, queueName, close } = createMigrationWorker({ roots }); // REDIS_URL, GAO_MIGRATE_QUEUE

worker.on('completed', (job, result) => {
  console.log(
    `${job.name} ${job.data.dbPath}: ${result.status}${result.backupPath ? `, backup ${result.backupPath}` : ''}`,
  );
});
worker.on('failed', (job, error) =>
  console.log(`${job?.name} ${job?.data.dbPath}: failed: ${error.message}`),
);
worker.on('ready', () => console.log(`worker on queue ${queueName}, roots ${roots.join(', ')}`));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await close(); // the job in hand ends first
    process.exit(0);
  });
}
