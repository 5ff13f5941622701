import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256OfFile } from '../../src/engine/backup-check.js';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import { freePort } from '../../src/queue/local-redis.js';
import {
  addBackupsBeside,
  type FleetRig,
  makeAppliedProject,
  makeBrokenProject,
  makeProject,
  startFleetRig,
} from '../fleet/helpers.js';
import { runCliAsync } from '../helpers/cli-async.js';
import { redisForFile } from '../helpers/redis.js';
import { waitFor } from '../queue/helpers.js';

describe('gao-migrate fleet, status and retry', () => {
  const redis = redisForFile();
  let rig: FleetRig;
  const cli = (args: string[]) =>
    runCliAsync(args, { cwd: rig.root, env: { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: rig.queueName } });

  beforeEach(async () => {
    rig = await startFleetRig(redis.url);
  });
  afterEach(async () => {
    await rig.close();
  });

  it('rolls out over a glob and prints one JSON report with every backup', async () => {
    const targets = ['p1', 'p2', 'p3'].map((name) => makeProject(rig.root, name));
    const glob = path.join(rig.root, '*', '.gao-dev', 'documents.db');

    const run = await cli([
      'fleet',
      'up',
      '--glob',
      glob,
      '--preflight',
      '--canary',
      '1',
      '--wait',
      '--json',
    ]);

    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.rolloutId).toMatch(/^rollout-\d{8}T\d{6}-[0-9a-f]{6}$/);
    expect(report.state).toBe('completed');
    expect(report.counts).toMatchObject({ total: 3, done: 3, failed: 0 });
    expect(report.databases.map((database: { dbPath: string }) => database.dbPath).sort()).toEqual(
      [...targets].sort(),
    );
    for (const database of report.databases) expect(fs.existsSync(database.backupPath)).toBe(true);

    // `fleet --help` names the fields of this object, all of them.
    const help = await cli(['fleet', '--help']);
    const named = /print one JSON object \{([^}]*)\}/.exec(help.stdout)?.[1] ?? '';
    expect(named.split(',').map((field) => field.trim())).toEqual(Object.keys(report));
  });

  it('leaves the backups a glob matches beside the databases out, says so in one line, and never touches them', async () => {
    const targets = ['b1', 'b2', 'b3'].map((name) => makeProject(rig.root, name));
    const backups = targets.slice(0, 2).flatMap(addBackupsBeside).sort();
    const hashes = backups.map(sha256OfFile);
    const glob = path.join(rig.root, '*', '.gao-dev', '*.db');

    // Queued, each backup would fail (DB_IS_BACKUP) and halt a rollout that allows no failure.
    const up = await cli(['fleet', 'up', '--glob', glob, '--max-failures', '0', '--wait', '--json']);
    expect(up.code).toBe(0);
    expect(up.stderr).toBe(
      `gao-migrate: left out 6 files --glob matched that are named as gao-migrate backups (${backups[0]}, …): a glob takes databases, not their backups.\n`,
    );
    const report = JSON.parse(up.stdout);
    expect(report).toMatchObject({ state: 'completed', counts: { total: 3, done: 3, failed: 0 } });
    expect(report.databases.map((database: { dbPath: string }) => database.dbPath).sort()).toEqual(
      [...targets].sort(),
    );
    expect(report.leftOutBackups).toEqual(backups);
    expect(backups.map(sha256OfFile)).toEqual(hashes);

    // The up's own backups are left out too; verify says how to verify one.
    const made = report.databases.map((database: { backupPath: string }) => database.backupPath);
    const verify = await cli(['fleet', 'verify', '--glob', glob, '--wait']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('3 done, 0 failed, 0 cancelled');
    expect(verify.stderr).toBe(
      `gao-migrate: left out 9 files --glob matched that are named as gao-migrate backups (${[...backups, ...made].sort()[0]}, …): a glob takes databases, not their backups. To verify a backup, give it with --db.\n`,
    );
    expect(backups.map(sha256OfFile)).toEqual(hashes);
  });

  it('refuses a backup given by --db or --from-file for up and down before it reaches Redis; verify takes one', async () => {
    const dbPath = makeAppliedProject(rig.root, 'named');
    const [backup, rollbackBackup, preRestoreBackup] = addBackupsBeside(dbPath) as [string, string, string];
    const hashes = [dbPath, backup, rollbackBackup].map(sha256OfFile);
    const list = path.join(rig.root, 'list.txt');
    fs.writeFileSync(list, `${dbPath}\n${rollbackBackup}\n`);
    const sentence = (given: string) =>
      `gao-migrate: ${given} is a backup gao-migrate made, which a change would leave no longer holding the database as it was: give the database itself (by the backup's name, ${dbPath}), or restore the backup into it first with \`gao-migrate restore --db ${dbPath} --from ${given}\`; nothing was changed. (DB_IS_BACKUP)\n`;
    for (const [args, given] of [
      [['fleet', 'up', '--db', dbPath, '--db', backup, '--wait'], backup],
      [['fleet', 'down', '--from-file', list, '--wait'], rollbackBackup],
      // Given by name as well as matched by a glob, it is given by name.
      [['fleet', 'up', '--glob', path.join(rig.root, '*', '.gao-dev', '*.db'), '--db', backup], backup],
    ] as const) {
      const run = await cli([...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toBe(sentence(given));
      expect(run.stdout).toBe('');
    }
    expect(JSON.parse((await cli(['status', '--json'])).stdout)).toEqual({ rollouts: [] });
    const queues = [rig.queueName, `${rig.queueName}-rollouts`].map(
      (name) => new Queue(name, { connection: connectionOptionsFromUrl(redis.url) }),
    );
    try {
      for (const queue of queues) expect(await queue.count()).toBe(0);
    } finally {
      await Promise.all(queues.map((queue) => queue.close()));
    }

    const verify = await cli([
      'fleet',
      'verify',
      '--db',
      backup,
      '--glob',
      path.join(rig.root, 'named', '.gao-dev', '*.db'),
      '--wait',
      '--json',
    ]);
    expect(verify.code).toBe(0);
    expect(verify.stderr).toBe(
      `gao-migrate: left out 2 files --glob matched that are named as gao-migrate backups (${preRestoreBackup}, …): a glob takes databases, not their backups. To verify a backup, give it with --db.\n`,
    );
    const report = JSON.parse(verify.stdout);
    expect(report.databases.map((database: { dbPath: string }) => database.dbPath)).toEqual([backup, dbPath]);
    expect(report.counts).toMatchObject({ total: 2, done: 2, failed: 0 });
    expect([dbPath, backup, rollbackBackup].map(sha256OfFile)).toEqual(hashes);
    expect(report.leftOutBackups).toEqual([preRestoreBackup, rollbackBackup]);
  });

  it('sums up what a fleet down discarded, in one line under the table', async () => {
    for (const [name, applications] of [
      ['d1', 0],
      ['d2', 2],
      ['d3', 1],
    ] as const) {
      makeAppliedProject(rig.root, name, applications);
    }
    const run = await cli([
      'fleet',
      'down',
      '--glob',
      path.join(rig.root, 'd*', '.gao-dev', 'documents.db'),
      '--wait',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      "Discarded (each database's rollback backup keeps its own): 3 rows of learning_applications in 2 databases; 2 rows of learning_index (application_count, success_rate, confidence_score, decay_factor) in 2 databases.",
    );
  });

  it('sums up what the preflight found a fleet down would discard, in text and in --json', async () => {
    const targets = [
      makeAppliedProject(rig.root, 'w1', 2),
      makeAppliedProject(rig.root, 'w2', 1),
      makeAppliedProject(rig.root, 'w3'),
      makeBrokenProject(rig.root, 'w4'),
    ];
    const hashes = targets.map(sha256OfFile);
    const args = ['fleet', 'down', ...targets.flatMap((dbPath) => ['--db', dbPath]), '--preflight', '--wait'];

    const text = await cli(args);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain(
      "Per the preflight's dry runs, down would discard (a real run backs each database up first): 3 rows of learning_applications in 2 databases; 2 rows of learning_index (application_count, success_rate, confidence_score, decay_factor) in 2 databases.\n",
    );
    const json = await cli([...args, '--json']);
    const report = JSON.parse(json.stdout);
    expect(report.wouldDiscard).toEqual([
      { object: 'learning_applications', rows: 3, databases: 2 },
      {
        object: 'learning_index (application_count, success_rate, confidence_score, decay_factor)',
        rows: 2,
        databases: 2,
      },
    ]);
    expect(
      report.databases.map((database: { wouldDiscard: { rows: number }[] }) =>
        database.wouldDiscard.map((item) => item.rows),
      ),
    ).toEqual([[2, 1], [1, 1], [], []]);
    expect(targets.map(sha256OfFile)).toEqual(hashes);
  });

  it('exits 2 with a readable table when a database fails, then status and retry --failed mend it', async () => {
    makeProject(rig.root, 'ok');
    const bad = makeBrokenProject(rig.root, 'bad');
    const list = path.join(rig.root, 'targets.txt');
    fs.writeFileSync(list, `# fleet\n${path.join(rig.root, 'ok', '.gao-dev', 'documents.db')}\n${bad}\n`);

    const first = await cli(['fleet', 'up', '--from-file', list, '--wait']);
    expect(first.code).toBe(2);
    expect(first.stdout).toMatch(/DATABASE\s+STATE\s+BACKUP\s+DURATION\s+ERROR/);
    expect(first.stdout).toMatch(/NOT_A_DATABASE/);
    const rolloutId = /Rollout (rollout-\S+)/.exec(first.stdout)?.[1] as string;
    // Completed with a failure: the report says how to run it again (a rollout that was not halted resumes nothing).
    expect(first.stdout).toContain(
      `\nOnce the 1 failed database(s) are repaired, gao-migrate retry ${rolloutId} --failed runs them again.\n`,
    );

    const status = await cli(['status', rolloutId, '--json']);
    expect(status.code).toBe(2);
    const report = JSON.parse(status.stdout);
    expect(report.counts).toMatchObject({ done: 1, failed: 1 });
    expect(report.databases.find((database: { dbPath: string }) => database.dbPath === bad).state).toBe(
      'failed',
    );

    fs.rmSync(bad);
    fs.renameSync(makeProject(rig.root, 'fixed'), bad);
    const retry = await cli(['retry', rolloutId, '--failed', '--wait', '--json']);
    expect(retry.code).toBe(0);
    expect(JSON.parse(retry.stdout).counts).toMatchObject({ done: 2, failed: 0 });
  });

  it('retry --failed after a failed preflight says the rollout goes on to apply, and it does', async () => {
    const good = makeProject(rig.root, 'pre-ok');
    const bad = makeBrokenProject(rig.root, 'pre-bad');
    const first = await cli(['fleet', 'up', '--db', good, '--db', bad, '--preflight', '--wait']);
    expect(first.code).toBe(2);
    expect(first.stdout).toContain(
      `halted - Preflight failed on 1 database(s), so nothing was applied: ${bad}.`,
    );
    // Both rows' durations are their dry runs': the cancelled one never ran its migration.
    expect(first.stdout).toMatch(new RegExp(`${good}\\s+cancelled\\s+-\\s+\\d+ ms \\(dry run\\)`));
    expect(first.stdout).toMatch(new RegExp(`${bad}\\s+failed\\s+\\S+\\s+\\d+ ms \\(dry run\\)`));
    const rolloutId = /Rollout (rollout-\S+)/.exec(first.stdout)?.[1] as string;

    fs.rmSync(bad);
    fs.renameSync(makeProject(rig.root, 'pre-fixed'), bad);
    const retry = await cli(['retry', rolloutId, '--failed']);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toBe(
      `Re-enqueued 1 failed database(s) of ${rolloutId}. Its preflight had halted it before anything was applied: the rollout goes on, and once every database passes its dry run it applies up to all 2. Follow it with: gao-migrate status ${rolloutId}\n`,
    );
    await rig.fleet.wait(rolloutId);

    const status = await cli(['status', rolloutId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Rollout ${rolloutId} (up): completed\n`);
    expect(status.stdout).toContain('2 done, 0 failed, 0 cancelled, 0 in progress, 0 not started, of 2.');
    // An ended rollout needs no worker: not a word of one.
    expect(status.stderr).not.toContain('no worker');

    // Listed among the recent rollouts with its operation, state and counts.
    const listed = await cli(['status']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ROLLOUT\s+OP\s+STATE\s+DONE\s+FAILED\s+CANCELLED\s+TOTAL\n/);
    expect(listed.stdout).toMatch(new RegExp(`\n${rolloutId}\\s+up\\s+completed\\s+2\\s+0\\s+0\\s+2\n`));
  });

  it('retry --failed --wait says first that a halted rollout goes on, then follows it to its end', async () => {
    const good = makeProject(rig.root, 'wait-ok');
    const bad = makeBrokenProject(rig.root, 'wait-bad');
    const first = await cli(['fleet', 'up', '--db', good, '--db', bad, '--preflight', '--wait']);
    expect(first.code).toBe(2);
    const rolloutId = /Rollout (rollout-\S+)/.exec(first.stdout)?.[1] as string;

    fs.rmSync(bad);
    fs.renameSync(makeProject(rig.root, 'wait-fixed'), bad);
    const retry = await cli(['retry', rolloutId, '--failed', '--wait']);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toMatch(
      new RegExp(
        `^Re-enqueued 1 failed database\\(s\\) of ${rolloutId}\\. Its preflight had halted it before anything was applied: the rollout goes on, and once every database passes its dry run it applies up to all 2\\.\nDATABASE `,
      ),
    );
    expect(retry.stdout).toContain(`Rollout ${rolloutId} (up): completed\n`);
    expect(retry.stdout).toContain('2 done, 0 failed, 0 cancelled, 0 in progress, 0 not started, of 2.');
  });

  it('retry --failed after a failed canary says the rollout goes on to the rest, and it does', async () => {
    const bad = makeBrokenProject(rig.root, 'canary-bad');
    const good = makeProject(rig.root, 'canary-rest');
    const first = await cli(['fleet', 'up', '--db', bad, '--db', good, '--canary', '1', '--wait']);
    expect(first.code).toBe(2);
    expect(first.stdout).toContain(
      'halted - Canary failed on 1 of 1 database(s); the other 1 were not started.',
    );
    const rolloutId = /Rollout (rollout-\S+)/.exec(first.stdout)?.[1] as string;
    // The report itself says how to go on: nothing else in it names retry.
    expect(first.stdout).toContain(
      `\nOnce the 1 failed database(s) are repaired, gao-migrate retry ${rolloutId} --failed runs them again; a rollout its preflight, canary or --max-failures halted goes on with them.\n`,
    );

    fs.rmSync(bad);
    fs.renameSync(makeProject(rig.root, 'canary-fixed'), bad);
    const retry = await cli(['retry', rolloutId, '--failed']);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toBe(
      `Re-enqueued 1 failed database(s) of ${rolloutId}. Its canary had halted it: the rollout goes on, and once every canary database succeeds it applies up to the databases it had not started. Follow it with: gao-migrate status ${rolloutId}\n`,
    );
    await rig.fleet.wait(rolloutId);

    const status = await cli(['status', rolloutId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Rollout ${rolloutId} (up): completed\n`);
    expect(status.stdout).toContain('2 done, 0 failed, 0 cancelled, 0 in progress, 0 not started, of 2.');
  });

  it('retry --failed after a --max-failures halt says the cancelled databases go on, and they do', async () => {
    const bad = makeBrokenProject(rig.root, 'threshold-bad');
    const rest = ['threshold-a', 'threshold-b'].map((name) => makeProject(rig.root, name));
    const args = ['fleet', 'up', '--db', bad, ...rest.flatMap((dbPath) => ['--db', dbPath])];
    const first = await cli([...args, '--max-failures', '0', '--attempts', '1', '--wait']);
    expect(first.code).toBe(2);
    expect(first.stdout).toContain(
      'halted - Halted after 1 failure(s), more than the 0 allowed; databases not yet started were cancelled.',
    );
    const rolloutId = /Rollout (rollout-\S+)/.exec(first.stdout)?.[1] as string;

    fs.rmSync(bad);
    fs.renameSync(makeProject(rig.root, 'threshold-fixed'), bad);
    const retry = await cli(['retry', rolloutId, '--failed']);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toBe(
      `Re-enqueued 1 failed database(s) of ${rolloutId}. Its failure threshold (--max-failures) had halted it: the rollout goes on, the 2 database(s) the halt had cancelled are queued again, and it halts again if failures pass the threshold. Follow it with: gao-migrate status ${rolloutId}\n`,
    );
    await rig.fleet.wait(rolloutId);

    const status = await cli(['status', rolloutId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Rollout ${rolloutId} (up): completed\n`);
    expect(status.stdout).toContain('3 done, 0 failed, 0 cancelled, 0 in progress, 0 not started, of 3.');
  });

  it('says in one sentence with ROLLOUT_NOT_FOUND that a rollout left the queue: status, retry, and a follow', async () => {
    const db = makeProject(rig.root, 'removed');
    // No worker runs on this queue: the rollout waits, so it can be removed while `fleet --wait` follows it.
    const queueName = `${rig.queueName}-idle`;
    const rollouts = new Queue(`${queueName}-rollouts`, { connection: connectionOptionsFromUrl(redis.url) });
    try {
      const following = cli(['fleet', 'up', '--queue', queueName, '--db', db, '--wait']);
      const rolloutId = await waitFor(
        async () => (await rollouts.getJobs(['waiting']))[0]?.id,
        'the rollout',
      );
      expect(await rollouts.remove(rolloutId)).toBe(1);

      const followed = await following;
      expect(followed.code).toBe(2);
      expect(followed.stderr.trim().split('\n').at(-1)).toBe(
        `gao-migrate: Rollout ${rolloutId} left the queue while it was followed (removed by hand, or by its retention once it ended); what its database jobs did stays done: check the databases with gao-migrate verify. (ROLLOUT_NOT_FOUND)`,
      );
      const gone = `gao-migrate: No rollout ${rolloutId} in this queue: it was never started here, or it was removed (by hand, or as ended rollouts are: after 30 days, or past the latest 1,000). (ROLLOUT_NOT_FOUND)\n`;
      for (const args of [
        ['status', rolloutId],
        ['retry', rolloutId, '--failed'],
      ]) {
        const run = await cli([...args, '--queue', queueName]);
        expect(run.code).toBe(2);
        expect(run.stderr).toBe(gone);
        expect(run.stdout).toBe('');
      }
      const json = await cli(['status', rolloutId, '--queue', queueName, '--json']);
      expect(JSON.parse(json.stdout).error.code).toBe('ROLLOUT_NOT_FOUND');
      // An id with a newline or a bidi override is shown as a JSON string: the sentence stays one line.
      const odd = await cli(['status', 'a\nb\u202ec', '--queue', queueName]);
      expect(odd.code).toBe(2);
      expect(odd.stderr).toMatch(
        /^gao-migrate: No rollout "a\\nb\\u202ec" in this queue: .+ \(ROLLOUT_NOT_FOUND\)\n$/,
      );
    } finally {
      await rollouts.obliterate({ force: true });
      await rollouts.close();
    }
  });

  it('status only reads: on a queue name no rollout ever used it leaves no key in Redis', async () => {
    const queueName = `${rig.queueName}-typo`;
    const keys = new Redis(redis.url);
    try {
      const list = await cli(['status', '--queue', queueName]);
      expect(list).toMatchObject({ code: 0, stdout: 'No rollouts in this queue.\n' });
      expect((await cli(['status', 'rollout-1', '--queue', queueName, '--json'])).code).toBe(2);
      expect(await keys.keys(`*${queueName}*`)).toEqual([]);
      // The same keys, looked for the same way, are there once a rollout is started on that queue.
      const started = await cli([
        'fleet',
        'verify',
        '--queue',
        queueName,
        '--db',
        makeProject(rig.root, 'typo'),
      ]);
      expect(started.code).toBe(0);
      expect(await keys.keys(`*${queueName}*`)).not.toEqual([]);
    } finally {
      for (const name of [queueName, `${queueName}-rollouts`]) {
        const queue = new Queue(name, { connection: connectionOptionsFromUrl(redis.url) });
        await queue.obliterate({ force: true });
        await queue.close();
      }
      await keys.quit();
    }
  });

  it('exits 1, like verify and enqueue verify, when fleet verify finds databases without the migration', async () => {
    const applied = makeAppliedProject(rig.root, 'v1');
    const missing = makeProject(rig.root, 'v2');
    const onlyFindings = await cli(['fleet', 'verify', '--db', applied, '--db', missing, '--wait', '--json']);
    expect(onlyFindings.code).toBe(1);
    expect(JSON.parse(onlyFindings.stdout).counts).toMatchObject({ done: 1, failed: 1 });

    const broken = makeBrokenProject(rig.root, 'v3');
    const withFailure = await cli(['fleet', 'verify', '--db', missing, '--db', broken, '--wait']);
    expect(withFailure.code).toBe(2);
    expect(withFailure.stdout).toMatch(/NOT_A_DATABASE/);
    // What verify found is its answer, not something to repair and retry.
    expect(withFailure.stdout).not.toContain('gao-migrate retry');
  });

  it('refuses bad flags in one sentence and touches nothing', async () => {
    const db = makeProject(rig.root, 'only');
    const hash = sha256OfFile(db);
    for (const args of [
      ['fleet', 'up', '--db', db, '--max-failures', 'lots'],
      ['fleet', 'up', '--db', db, '--canary', '5'],
      ['fleet', 'up', '--db', db, '--attempts', '101'],
      ['fleet', 'up', '--db', db, '--attempts', '0'],
      ['fleet', 'up', '--db', db, '--max-failures', '99999999999999999999'],
      ['fleet', 'up', '--glob', path.join(rig.root, 'nothing-*.db')],
      ['fleet', 'up', '--db', db, '--db', ''],
      ['fleet', 'sideways', '--db', db],
      ['fleet', 'verify', '--db', db, '--preflight'],
      ['status', 'rollout-missing'],
      ['status', ''],
      ['retry', '', '--failed'],
      ['retry', 'rollout-missing'],
    ]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(sha256OfFile(db)).toBe(hash);
    const status = await cli(['status', '--json']);
    expect(JSON.parse(status.stdout)).toEqual({ rollouts: [] });
  });

  it('says so when no worker runs on the queue, keeps waiting for one, and on SIGINT says the rollout goes on', async () => {
    const db = makeProject(rig.root, 'unattended');
    const hash = sha256OfFile(db);
    const queueName = `${rig.queueName}-idle`;
    const { stderr, code } = await interruptedOnceItSpeaks(['fleet', 'up', '--db', db, '--wait'], {
      cwd: rig.root,
      env: { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName },
    });
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toBe(
      `gao-migrate: no worker is running on queue ${queueName}; the rollout waits until one starts (gao-migrate worker --queue ${queueName} --roots DIR).`,
    );
    expect(lines[1]).toMatch(
      /^gao-migrate: Stopped following rollout (rollout-\S+) \(SIGINT\); it goes on: gao-migrate status \1\. \(INTERRUPTED\)$/,
    );
    expect(lines).toHaveLength(2);
    expect(code).toBe(130);
    const rolloutId = /Stopped following rollout (\S+) /.exec(lines[1] as string)?.[1] as string;
    const rollouts = new Queue(`${queueName}-rollouts`, { connection: connectionOptionsFromUrl(redis.url) });
    try {
      expect(await rollouts.getJobState(rolloutId)).toBe('waiting');
    } finally {
      await rollouts.close();
      await removeQueuesOf(redis.url, queueName);
    }
    expect(sha256OfFile(db)).toBe(hash);
  });

  it('retry --wait says so when no worker runs on the queue and, on SIGINT, that the rollout goes on, as fleet --wait does', async () => {
    const db = makeProject(rig.root, 'retry-unattended');
    const queueName = `${rig.queueName}-idle-retry`;
    const env = { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName };
    const started = await runCliAsync(['fleet', 'up', '--db', db], { cwd: rig.root, env });
    expect(started.code).toBe(0);
    const rolloutId = /Rollout (rollout-\S+) started/.exec(started.stdout)?.[1] as string;
    let interrupted: { stderr: string; code: number | null };
    try {
      interrupted = await interruptedOnceItSpeaks(['retry', rolloutId, '--failed', '--wait'], {
        cwd: rig.root,
        env,
      });
    } finally {
      await removeQueuesOf(redis.url, queueName);
    }
    const { stderr, code } = interrupted;
    // As fleet --wait: a signal stops the following, not the rollout, and says so.
    expect(stderr).toBe(
      `gao-migrate: no worker is running on queue ${queueName}; the rollout waits until one starts (gao-migrate worker --queue ${queueName} --roots DIR).\n` +
        `gao-migrate: Stopped following rollout ${rolloutId} (SIGINT); it goes on: gao-migrate status ${rolloutId}. (INTERRUPTED)\n`,
    );
    expect(code).toBe(130);
  });

  it('fleet without --wait, and status of a rollout that has not ended, say so when no worker runs on the queue', async () => {
    const db = makeProject(rig.root, 'no-worker');
    const hash = sha256OfFile(db);
    const queueName = `${rig.queueName}-idle-status`;
    const env = { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: queueName, GAO_MIGRATE_LOG_LEVEL: 'silent' };
    const hint = `gao-migrate: no worker is running on queue ${queueName}; the rollout waits until one starts (gao-migrate worker --queue ${queueName} --roots DIR).\n`;
    try {
      const started = await runCliAsync(['fleet', 'up', '--db', db], { cwd: rig.root, env });
      expect(started.code).toBe(0);
      expect(started.stdout).toMatch(/^Rollout rollout-\S+ started on 1 database\(s\)\./);
      expect(started.stderr).toBe(hint);
      const rolloutId = /Rollout (rollout-\S+) started/.exec(started.stdout)?.[1] as string;

      const status = await runCliAsync(['status', rolloutId], { cwd: rig.root, env });
      expect(status.stdout).toContain(`Rollout ${rolloutId} (up): waiting`);
      expect(status.stderr).toBe(hint);
    } finally {
      await removeQueuesOf(redis.url, queueName);
    }
    expect(sha256OfFile(db)).toBe(hash);
  });

  it('counts the databases whose job is not added yet in the summary line, so the numbers add up', async () => {
    const targets = ['n1', 'n2'].map((name) => makeProject(rig.root, name));
    // No worker runs on this queue: the rollout waits, and neither database has a job.
    const queueName = `${rig.queueName}-idle`;
    try {
      const started = await cli([
        'fleet',
        'up',
        '--queue',
        queueName,
        ...targets.flatMap((db) => ['--db', db]),
      ]);
      expect(started.code).toBe(0);
      const rolloutId = /Rollout (rollout-\S+) started/.exec(started.stdout)?.[1] as string;

      const status = await cli(['status', rolloutId, '--queue', queueName]);
      expect(status.stdout).toContain(`Rollout ${rolloutId} (up): waiting`);
      expect(status.stdout).toContain('0 done, 0 failed, 0 cancelled, 0 in progress, 2 not started, of 2.');
      expect(status.code).toBe(2);
      const json = await cli(['status', rolloutId, '--queue', queueName, '--json']);
      expect(JSON.parse(json.stdout).counts).toMatchObject({ total: 2, 'not-started': 2 });
    } finally {
      await removeQueuesOf(redis.url, queueName);
    }
  });

  it('reports a rollout whose database job was removed by hand as halted, in text, JSON and exit code alike', async () => {
    const targets = ['r1', 'r2', 'r3'].map((name) => makeProject(rig.root, name));
    const migrations = new Queue(rig.queueName, { connection: connectionOptionsFromUrl(redis.url) });
    let rolloutId: string;
    try {
      await migrations.pause();
      rolloutId = await rig.fleet.start({ op: 'up', targets });
      const removed = `${rolloutId}_apply_1`;
      await waitFor(() => migrations.getJob(removed), 'the rollout to add its jobs');
      await migrations.remove(removed);
      await migrations.resume();
      await rig.fleet.wait(rolloutId);
    } finally {
      await migrations.close();
    }

    const text = await cli(['status', rolloutId]);
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(new RegExp(`${targets[1]}\\s+cancelled`));
    expect(text.stdout).toContain(
      `Rollout ${rolloutId} (up): halted - The job of 1 database was removed from the queue`,
    );
    expect(text.stdout).toContain('2 done, 0 failed, 1 cancelled, 0 in progress, 0 not started, of 3.');
    const json = await cli(['status', rolloutId, '--json']);
    expect(json.code).toBe(2);
    const report = JSON.parse(json.stdout);
    expect(report.state).toBe('halted');
    expect(report.reason).toContain(`may not be migrated: ${targets[1]}.`);
    expect(report.counts).toMatchObject({ done: 2, cancelled: 1, 'not-started': 0 });
  });

  it('shows a database path with a newline escaped in the status table, and exact in --json', async () => {
    const plain = makeProject(rig.root, 'plain');
    const odd = makeProject(rig.root, 'new\nline');
    const rolloutId = await rig.fleet.start({ op: 'up', targets: [plain, odd] });
    await rig.fleet.wait(rolloutId);

    const text = await cli(['status', rolloutId]);
    const lines = text.stdout.trimEnd().split('\n');
    // The header, one row per database, the rollout line and the counts: nothing more.
    expect(lines).toHaveLength(5);
    expect(lines[2]).toMatch(new RegExp(`^"${rig.root}/new\\\\nline/\\.gao-dev/documents\\.db"\\s+done\\s`));
    const json = await cli(['status', rolloutId, '--json']);
    expect(JSON.parse(json.stdout).databases.map((database: { dbPath: string }) => database.dbPath)).toEqual([
      plain,
      odd,
    ]);
  });

  it('warns that --busy-timeout, --lock-timeout and --stall-timeout are for its own worker, not those of a shared Redis', async () => {
    const db = makeProject(rig.root, 'shared');
    const warnings = async (flags: string[]) => {
      const run = await runCliAsync(['fleet', 'up', '--db', db, '--wait', '--json', ...flags], {
        cwd: rig.root,
        env: { REDIS_URL: redis.url, GAO_MIGRATE_QUEUE: rig.queueName, GAO_MIGRATE_LOG_LEVEL: 'warn' },
      });
      expect(run.code).toBe(0);
      return run.stderr
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line));
    };
    expect(await warnings([])).toEqual([]);
    expect(await warnings(['--busy-timeout', '120000', '--lock-timeout', '300'])).toEqual([
      expect.objectContaining({
        busyTimeoutMs: 120000,
        lockTimeoutMs: 300,
        msg: '--busy-timeout, --lock-timeout are for the worker fleet runs itself on a private Redis: the workers on this Redis use their own',
      }),
    ]);
    // Given at its default, a flag was still given: the warning names it.
    expect(await warnings(['--stall-timeout', '2000', '--busy-timeout', '5000'])).toEqual([
      expect.objectContaining({
        stallTimeoutMs: 2000,
        busyTimeoutMs: 5000,
        msg: '--stall-timeout, --busy-timeout are for the worker fleet runs itself on a private Redis: the workers on this Redis use their own',
      }),
    ]);
  });

  it('says Redis is unreachable in one sentence when REDIS_URL points nowhere', async () => {
    const db = makeProject(rig.root, 'lonely');
    const port = await freePort();
    const run = await runCliAsync(['fleet', 'up', '--db', db, '--json'], {
      cwd: rig.root,
      env: { REDIS_URL: `redis://user:s3cret@127.0.0.1:${port}`, GAO_MIGRATE_QUEUE: rig.queueName },
    });
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout).error.code).toBe('REDIS_UNAVAILABLE');
    expect(run.stderr).toMatch(/Cannot reach Redis/);
    expect(`${run.stdout}${run.stderr}`).not.toContain('s3cret');
  });
});

/**
 * Runs the CLI (logs silent), waits for its first line on stderr (it must still be running then: it waits for a
 * worker), sends SIGINT, and answers what it said and its exit code. Killed for good in any case.
 */
async function interruptedOnceItSpeaks(
  args: string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<{ stderr: string; code: number | null }> {
  const bin = fileURLToPath(new URL('../../bin/gao-migrate.js', import.meta.url));
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, GAO_MIGRATE_LOG_LEVEL: 'silent' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  try {
    await waitFor(
      async () => stderr.includes('\n') || child.exitCode !== null,
      `${args[0]} to say something`,
    );
    // Still waiting: a worker may yet start.
    expect(child.exitCode).toBeNull();
    child.kill('SIGINT');
    const code = await exited;
    // Read once it has exited: what it said on the way out is in.
    return { stderr, code };
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Removes a queue and its rollouts queue, jobs and all, from the Redis at `url`. */
async function removeQueuesOf(url: string, queueName: string): Promise<void> {
  for (const name of [queueName, `${queueName}-rollouts`]) {
    const queue = new Queue(name, { connection: connectionOptionsFromUrl(url) });
    await queue.obliterate({ force: true });
    await queue.close();
  }
}
