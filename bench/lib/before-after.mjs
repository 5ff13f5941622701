/**
 * The "Before and after" section of docs/BENCHMARKS.md: changes made to close a gap the benchmark showed, with
 * the figure before (fixed, from the run that showed the gap) and after (read from the current results).
 */

/** The full `npm run bench` of 2026-12-02 11:07 UTC, on commit 9c2cd7c, before the backup and queue changes. */
const DECEMBER_BEFORE = {
  label: 'the full run of 2026-12-02 11:07 UTC on commit 9c2cd7c',
  cpu: 'Intel(R) Xeon(R) Processor',
  upEngineMsAt1k: 17.8,
  backup: {
    1000: { ms: 12.5, ratio: 6.39 },
    100000: { ms: 208.9, ratio: 2.72 },
    1000000: { ms: 2029, ratio: 2.49 },
  },
  processUpRatioAt1M: 1.19,
  queue: { overheadMsPerJob: 2.54, ratioOneWorker: 0.82, speedupTwoWorkers: 1.29, redisCallsPerShortJob: 15 },
};

/** Lines of Markdown for the section, given the current results' engine and queue parts (either may be null). */
export function beforeAfterLines(engine, queue, { ms, int }) {
  const out = [];
  const line = (text = '') => out.push(text);
  line('## Before and after');
  line();
  line('Engine (figures measured before and after commits 77976f4 and 79cd6fa, on a loaded machine):');
  line();
  line('| change | before | after |');
  line('| --- | --- | --- |');
  line(
    '| `down` at 1,000,000 learnings, engine time (backup checked on a second core above 64 MiB, cheaper in-transaction checks) | 14.8 s | 8.3 s |',
  );
  line(
    '| the two index builds of `up` at 1,000,000 learnings, with a 2 MB page cache during the change | 2.2 s | 1.2 s |',
  );
  line();
  line(
    'Start-up of the CLI (commit 487b9bf loads the engine, zod and pino only in the commands that use them, on first use; alternated 15 times with the commit before it on 2026-12-03, medians in ms, whole process, 1,000 learnings; `tests/cli/startup.test.ts` keeps each command to the packages it needs):',
  );
  line();
  line('| command | before | after |');
  line('| --- | --- | --- |');
  for (const [command, was, now] of STARTUP_BEFORE_AFTER) line(`| ${command} | ${was} | ${now} |`);
  line();
  line(
    'Since commit 6197665 (2026-12-06) `up`, `down` and `verify` run the engine on a thread, so that Ctrl-C or SIGTERM is answered at once (the run finishes first; a second signal stops it, rolled back) instead of killing the process mid-transaction with a hot journal and a partial backup beside the database. Its cost, measured by hand that day (12 runs each, alternated, whole process, 1,000 learnings, against 3eede56 with the queue fixes of the same day): `up` 360 ms against 243 ms (medians), `up --dry-run` 336 against 238. An empty worker thread takes about 50 ms to start on this VM and loading the engine in it about 50 more. Kept: it is a fixed cost, small beside a large database (about 1.3 s at a million learnings), and fleets go through workers, whose engine thread starts once.',
  );
  line();
  line(
    'Since commit a333402 (2026-12-06) `down` checks the free space its table rebuild needs (the copy of `learning_index`, and a journal of every page it writes) from the sizes SQLite\u2019s `dbstat` reads under the write lock, where it used to allow only a tenth of the database and could fill the disk half-way. Reading them walks `learning_index` and its indexes: about 0.3 s at 1,000,000 learnings on the VM of the figures above (134 + 169 ms warm, 385 + 219 ms cold, by hand), inside the `lock` step of `down` in the table of steps, 2 to 4% of its 13.4 s; `up`, which rebuilds nothing, reads none of them.',
  );
  line();
  line(
    'Since commit 2cfb78d (2026-12-07) the verification inside `up`\u2019s transaction no longer tries 006\u2019s `ON DELETE CASCADE` by deleting a learning it added: SQLite then looks for the learnings that name it in `superseded_by`, which has no index, a pass over the whole of `learning_index` (about 0.23 s at 1,000,000 learnings, by hand). `up` has just created the table whose definition `inspect` compares, and the try of the foreign key proves foreign keys enforced on the connection; `verify` still tries the cascade. Measured by hand with `up` at 1,000,000 learnings, engine time, alternated 3 times with the commit before it: the verify step 182 to 189 ms before, 8 to 11 after; the whole engine 1,306, 1,652, 1,309 ms before, 1,180, 1,164, 1,120 after; the whole `gao-migrate up` process (`node bench/engine.mjs --sizes 1000000 --runs 3 --only processUp`, alternated twice) 1,433 and 1,461 ms before, 1,347 and 1,367 after.',
  );
  line();

  line(
    'Since commit 363fa26 (2026-12-07) the worker\u2019s job-order look (one Lua script per job, src/worker/job-order.ts) no longer reads the 50 waiting jobs at the taking end of the queue that BullMQ\u2019s ids alone show were queued after the job (50 `HMGET`s per job before), and is sent by its SHA1 (`EVALSHA`) rather than as 3 kB of text. Measured by hand against the commit before it, alternated 4 times on a VM whose speed drifted (the engine\u2019s own time moved between 10 and 21 ms per job): the script alone took 178 to 190 \u00b5s of Redis\u2019s time per call before, 44 to 49 after; Redis\u2019s CPU per job (`INFO cpu`), with our worker around an engine that answers at once (1,000 jobs): 1,281, 1,421, 1,065, 579 \u00b5s before, 960, 649, 417, 396 after, and 4.70, 5.06, 4.09, 2.65 ms per job before, 4.24, 2.97, 2.27, 2.56 after; with the real engine (300 jobs of 1,000 learnings): Redis\u2019s CPU 581, 1,284, 929, 705 \u00b5s per job before, 470, 1,009, 608, 503 after, but the overhead per job, 2.82, 5.96, 4.50, 3.38 ms before and 2.87, 6.35, 3.61, 3.23 after, shows no change beyond the noise.',
  );
  line();
  line(
    'Where the queue layer\u2019s time goes on this VM (a CPU profile of the worker around the instant engine, 2,000 jobs, 2026-12-07): the worker process is idle about 60% of the time, waiting for Redis\u2019s replies and libuv\u2019s thread pool; of its own time per job, the socket writes of its Redis commands take 25 to 100 \u00b5s each (the job-order script about 100, the last progress about 80, BullMQ\u2019s `moveToFinished` about 35, the job log lines about 25: the system call wakes Redis on the other core), the `mkdir` and `rmdir` of `<db>.lock` about 75 \u00b5s each to hand to the thread pool, garbage collection about 130 \u00b5s, pino\u2019s lines about 60 \u00b5s, the two `realpath`s about 35 \u00b5s. BullMQ alone pays one round trip and one write per job; our worker adds one awaited round trip (the job-order look), two writes that are not awaited, and three thread-pool hops (`mkdir`, `stat`, `rmdir`). Left: running the job-order look and the taking of `<db>.lock` side by side would hide one of the two waits (about 0.3 ms per job here) at the cost of taking and giving back the lock when an earlier job must be waited for; ioredis\u2019s auto-pipelining, which would put the last progress, the log lines and `moveToFinished` in one write, is reported to have failed Bull\u2019s jobs under load (taskforcesh/bullmq#457, OptimalBits/bull#2276), so it was not tried.',
  );
  line();
  line(
    'What the job-order look costs a job as a whole (2026-12-07 evening, by hand, same kind of VM): two `gao-migrate worker` processes on two queues, one of them built without the look, fed alternately 40 databases of 1,000 learnings at a time (10 and 8 pairs of such parts after a warm-up pair, so that drift hits both alike), overhead per job (the parts\u2019 span less the engine\u2019s own time) compared pair by pair: 0.72 ms less without the look (median; pairs from \u22120.46 to 1.24), and 0.60 ms less without it and with the lock\u2019s file system calls made synchronously (0.09 to 1.20). The same two workers built alike gave 0.09 ms (\u22120.73 to 0.65), the noise of the method; one of them logging at `warn` instead of `info` gave 0.28 ms (\u22120.92 to 1.25), within it. So the look is about a quarter of the 2.5 ms our worker adds to BullMQ alone around the engine; run beside the taking of `<db>.lock` it saved about 0.09 ms (below, not kept), so what it costs is mostly not the wait for Redis\u2019s reply. It keeps jobs on one database in the order they were queued, and it stays.',
  );
  line();
  line(
    'Why BullMQ costs more around a real job than around a no-op one (2026-12-07, by hand, on an AMD EPYC VM, Redis\u2019s `SLOWLOG` logging every command): BullMQ\u2019s `moveToFinished` script took 42 to 77 \u00b5s of Redis\u2019s time per call with no-op jobs run back to back (500 jobs, 2 runs), but 208 to 255 \u00b5s when each job kept the worker\u2019s thread busy, or only waited on a timer, for 11 ms (300 jobs, 2 runs each), and 325 \u00b5s in our worker around the real engine (300 jobs of 1,000 learnings), where the three other scripts of a job took about 90 (the last progress), 87 (the job-order look) and 40 \u00b5s (the job log lines). Redis spent 0.9 to 1.0 ms of CPU per job in that run (`INFO cpu`), all of it while the worker waited for its replies. The same commands cost three to five times as much after Redis has been idle for the length of a job: its caches are cold and its core has gone to sleep or to another tenant of the VM. No-op jobs back to back never let it idle, which is why the bench also measures BullMQ alone around jobs as long as the engine\u2019s, the floor any BullMQ worker pays around a real migration on this machine.',
  );
  line();
  line(
    'Why the engine itself runs slower in a queued run (2026-12-07 afternoon, by hand, on an AMD EPYC VM whose speed drifted by a third within minutes). Interleaved database by database, so that the drift hits every variant alike (600 to 800 databases of 1,000 learnings, engine medians in ms), none of our worker\u2019s own steps slows the engine: in-process 14.40, after a 1 ms timer 14.21; on the engine thread 15.17, after a 1 ms timer 15.33; in another run the thread 14.08, with `<db>.lock` taken around it 14.06; the thread 15.86, with a Redis script before and three writes after 15.73, with a pino line per step 15.55, with all of these 15.87. 4, 16 and 64 MiB of memory touched between runs added 0.02, 0.31 and 0.45 ms; the other core kept busy during the run, 0.6 and 1.3 ms. Through Redis, in short alternating parts (20 databases each, 30 parts of each, one process, the plain loop on the same engine thread), BullMQ alone handing each job to that thread and nothing else ran the engine 1.5 to 2.3 ms slower per job than back to back, and came to 1.17x to 1.24x the plain loop in 8 runs; our worker around the same thread, 2.3 to 3.2 ms slower, 1.35x to 1.50x (6 runs). BullMQ alone calling the engine itself, on its event loop\u2019s thread (as the bench\u2019s part above does), came to 1.04x to 1.08x with the engine as fast as back to back in 3 runs, and to 1.22x and 1.23x with it as slow as on the engine thread in 2 others: what slows the engine within BullMQ\u2019s job cycle was not found. The thread has a part in it: one BullMQ worker whose processor ran the jobs alternately on the engine thread and on its own thread (2 runs of 1,000 jobs of 1,000 learnings, so that drift hits both alike) had the engine at 13.48 and 14.37 ms (medians) on the thread against 11.24 and 12.71 on its own thread, and a job\u2019s whole cycle, from one processor call to the next, at 15.07 and 16.22 against 12.46 and 14.07 ms: about 2.2 to 2.6 ms per job; in 4 later runs, 0.5 to 2.3 ms of engine time, as much with V8\u2019s garbage collection kept off its helper threads (`--single-threaded-gc`: 2.15 and 0.49 ms) as without (2.25 and 0.60), so those threads are not the cause. In our worker the same alternation saved less: the engine at 13.72 and 14.16 ms against 12.51 and 13.37, the cycle at 17.03 and 17.38 against 15.86 and 16.70 ms, about 0.7 to 1.2 ms per job (our worker at about 1.38x instead of 1.45x). Not taken: on the worker\u2019s own thread a run blocks its event loop for as long as SQLite waits for another connection\u2019s lock (the busy timeout, 5 s by default), while `<db>.lock` may be judged stale after 2 s (`--stall-timeout 2000`) and taken by another worker. The bench now measures BullMQ alone around the engine in every round, the floor of the 1-worker ratio.',
  );
  line();

  const before = DECEMBER_BEFORE;
  const cpu = engine?.machine?.cpu ?? queue?.machine?.cpu;
  const otherMachine =
    cpu && cpu !== before.cpu
      ? ` The figures above come from another VM (${cpu}; before: ${before.cpu}), on which the baselines themselves take other times: only the ratios compare, not the milliseconds.`
      : '';
  line(
    `Backup and queue (before: ${before.label}; after: the figures above). The machine\u2019s speed drifts between runs, so the ratios, taken within one run, are the figures to compare.${otherMachine}`,
  );
  line();
  line('| change | before | after |');
  line('| --- | --- | --- |');
  for (const size of engine?.sizes ?? []) {
    const was = before.backup[size.learnings];
    const now = size.measurements.backup;
    if (!was || !now) continue;
    line(
      `| backup alone at ${int(size.learnings)} learnings (1) | ${ms(was.ms)} ms, ${was.ratio}x copy + \`quick_check\` | ${ms(now.ours.median)} ms, ${now.ratio}x (${now.ratioToDurableCopy ?? '-'}x a durable copy) |`,
    );
  }
  const small = engine?.sizes.find((size) => size.learnings === 1000);
  if (small) {
    line(
      `| \`up\` at 1,000 learnings, engine time | ${ms(before.upEngineMsAt1k)} ms | ${ms(small.measurements.up.ours.median)} ms |`,
    );
  }
  const large = engine?.sizes.find((size) => size.learnings === 1_000_000);
  if (large?.measurements.processUp) {
    line(
      `| \`gao-migrate up\` at 1,000,000 learnings, whole process vs \`cp\` + \`sqlite3\` | ${before.processUpRatioAt1M}x | ${large.measurements.processUp.ratio}x |`,
    );
  }
  line(
    `| Redis calls for progress and job log lines, per job shorter than 250 ms (written at most every 250 ms, from the job\u2019s start) | ${before.queue.redisCallsPerShortJob} | 2 |`,
  );
  const one = queue?.runs.find((run) => run.workers === 1);
  const two = queue?.runs.find((run) => run.workers === 2);
  if (one) {
    line(
      `| queue overhead per job, 1 worker (2, 3) | ${ms(before.queue.overheadMsPerJob)} ms | ${ms(one.overheadMsPerJob)} ms${one.overheadRange ? ` (${one.overheadRange.map(ms).join('-')})` : ''} |`,
    );
    line(`| 1 worker against the plain loop | ${before.queue.ratioOneWorker}x | ${one.ratioToPlain}x |`);
  }
  if (two) {
    const ceiling = queue.plainProcesses?.[1]?.speedupOverOneProcess;
    line(
      `| 1 \u2192 2 workers | ${before.queue.speedupTwoWorkers}x | ${two.speedupOverOneWorker}x${ceiling ? ` (the engine alone, 1 \u2192 2 processes: ${ceiling}x)` : ''} |`,
    );
  }
  line();
  line(
    '(1) The backup\u2019s flush to disk now runs on libuv\u2019s thread pool while `quick_check` runs; its SHA-256 comes from the page image in memory under 4 MiB, or from a thread of its own from 8 MiB; from 4 MiB it is copied by `cp` rather than written from the image (commit a7cabfd).',
  );
  line();
  line(
    '(2) Not like for like: \u201cbefore\u201d is one run at a quieter hour, \u201cafter\u201d the median of the rounds above. Run against each other, alternating 3 times (400 jobs, commit a7cabfd against 4eca37b, which writes progress at most every 250 ms), the worker gave 3.57, 4.07, 5.23 ms of overhead per job before and 5.31, 5.03, 5.57 after with 1 worker, and 1.14, 1.44, 1.41x before against 1.50, 1.43, 1.61x after from 1 to 2 workers: no measurable change with 1 worker, a little better with 2.',
  );
  line();
  line(
    '(3) Since commit acfa9ee the engine\u2019s `durationMs` runs until its connection is closed (about 0.1 ms at 1,000 learnings, counted before as queue overhead and as time outside the engine in the plain loop). A correction of what is counted where, not a speed-up: the ratio of 1 worker to the plain loop does not depend on it.',
  );
  line();
  line(
    '(4) WAL databases whose WAL a reader kept from the checkpoint (2026-12-03, commit b3c899f): the backup used to be SQLite\u2019s page image, held in memory; from 4 MiB the WAL is now copied beside the page copy and checkpointed into it. `gao-migrate up` at 1,000,000 learnings (a 298 MiB database, a 59 MiB WAL, a reader holding its snapshot), measured by hand, one run each: 417 MiB of peak RSS and 2.3 s of engine time before, 99 MiB and 1.8 s after. The \u201cWAL with frames\u201d rows above measure the new way.',
  );
  line();
  line(
    '(5) The queue run\u2019s memory verdict compared two single RSS samples, the end of the run against its middle, until 2026-12-03. Sampled without a garbage collection, RSS swings by about a tenth from one sample to the next (the full run of 2026-12-03 10:20 UTC: 1 worker, 124.9 MiB in the middle between 132.5 and 138.3, 140.8 at the end, so 1.13x, missed), so the verdict was decided by chance. It now compares each half\u2019s peak, as bench/worker-memory.mjs does (that run: 1.06x); the end-against-middle figure is still printed beside it.',
  );
  line();
  line(
    '(6) The `verify` baseline opened the database read-only until 2026-12-03; the engine\u2019s verify opens it read-write. On a read-only connection SQLite\u2019s `quick_check` skips CHECK constraints, most of its time on learning_index at a million rows (0.53 s read-only against 1.41 s read-write, measured by hand), so verify looked 2.6x slower than the same checks (2.57x at 1,000,000 learnings in the 13:55 UTC run). A correction of the baseline, not a speed-up: the baseline now opens it read-write too.',
  );
  line();
  line(
    '(7) Machines differ more than code: the full run of 2026-12-07 04:27 UTC (on commit 9a1844d, an AMD EPYC VM) had the backup at 100,000 learnings at 180 ms against 83 ms in the 01:23 UTC run on an Intel Xeon VM, while the plain copy and its check cost about the same (66 and 61 ms); the full run of 06:12 UTC, on another AMD EPYC VM with the code of later that day, had it at 73.9 ms (1.24x a copy with its check, 59.7 ms). The code is not the cause: `node bench/engine.mjs --sizes 100000 --runs 3` on the 04:27 VM, alternated twice between cd31463 (before this day\u2019s changes, the backup checksum among them) and 9a1844d, gave 229 and 184 ms before, 213 and 226 ms after. The checksum beside each backup (`<backup>.sha256`, 2026-12-07) costs about 0.5 ms per backup: 150 backups at 1,000 learnings in a loop, 10th percentile 5.93 to 7.00 ms before, 6.63 to 7.37 ms after (3 rounds alternated, by hand).',
  );
  line();
  line('Tried and not kept:');
  line();
  for (const text of NOT_KEPT) line(`- ${text}`);
  line();
  return out;
}

/** `gao-migrate` commands before and after lazy loading: [command, ms before, ms after]. */
const STARTUP_BEFORE_AFTER = [
  ['`gao-migrate --help`', 153, 89],
  ['`gao-migrate up`', 178, 128],
  ['`gao-migrate verify`', 157, 118],
  ['`gao-migrate enqueue` refusing a bad flag', 147, 89],
];

/** Changes measured and then reverted or never committed, so that nobody tries them again blind. */
const NOT_KEPT = [
  'Starting the engine\u2019s thread before logging \u201cfile lock acquired\u201d, and sending the last progress while `<db>.lock` is removed (commit 4931be1, reverted in cfcf09e). Alternated 6 times with the commit before it, 300 jobs of 1,000 learnings each: 5.49, 5.32, 10.21, 5.34, 5.46, 3.8 ms of overhead per job before, 7.57, 6.72, 8.05, 5.18, 4.31, 3.34 ms after, while the engine\u2019s own time moved between 11 and 22 ms per job with the machine. Against the engine time, no gain shows, and the order it gave up (the last progress only once the lock is free) is worth more.',
  'proper-lockfile\u2019s `lockSync`: about 0.2 ms less per lock and unlock in isolation. In a worker with the real engine (2026-12-03, alternated 6 times, 300 jobs of 1,000 learnings each), 2.12, 2.63, 2.07, 2.26, 2.42, 2.53 ms of overhead per job with the asynchronous lock against 2.15, 2.05, 2.09, 2.19, 2.31, 2.25 with `lockSync` (medians 2.34 and 2.17): about 0.15 ms. Kept asynchronous: a stalled network file system then holds up a thread of libuv\u2019s pool, not the event loop that renews the job\u2019s BullMQ lock.',
  'Looking for an earlier job on the database and trying `<db>.lock` at once together (`Promise.all`), the lock released again when an earlier job is found (commit ffe52d3, reverted). In one process against a local Redis (2026-12-07, AMD EPYC VM, 3 runs of 6 rounds of 1,000 each): the look alone 125 to 200 \u00b5s, taking and releasing the lock alone 190 to 450 \u00b5s, the two one after the other 395 to 920 \u00b5s, together 307 to 610 \u00b5s: about 0.09 ms saved per job once warm. Through the queue (300 jobs, 4 rounds alternated with the commit before it) no difference showed: our worker around an instant engine 1.71, 2.09, 2.11, 2.89 ms per job before and 1.78, 2.35, 1.85, 2.35 after; overhead per job with the real engine 3.84, 4.39, 4.24, 4.36 ms before and 4.31, 4.21, 3.84, 4.98 after. Not kept: too small to see, and a job queued later could hold the lock for a moment ahead of the earlier job it must wait for, which then backs off 25 ms.',
  'Releasing `<db>.lock` after the job is reported completed: 0.4 to 0.55 ms off each job, but whoever sees a job completed must find the database free.',
  'Memory-mapped reads (`mmap_size`) for the backup\u2019s `quick_check`, and no hash thread at 100,000 learnings: no gain, and slower, respectively.',
  'Reading a database under 4 MiB through a file descriptor of the engine\u2019s own, into a buffer reused from one backup to the next, instead of taking SQLite\u2019s page image (`serialize`), then writing and hashing it from there (2026-12-06, by hand, 35 databases of 1,000 learnings, 3 runs): 0.58 to 0.68 ms for read, write and hash against 3.5 to 4.8 ms. The difference is mostly memory: on this VM the first write to a fresh 4 KiB page costs about 10.5 \u00b5s (200 MiB filled 6 times, freed in between: 10.4 to 10.8 \u00b5s per page, every time), so filling the 0.5 MiB image costs about 1.5 ms in page faults, where a reused buffer costs none; the plain copy of the baseline copies inside the kernel. Not kept: closing a descriptor of the database file releases every POSIX lock the process holds on it, SQLite\u2019s write lock included (SQLite\u2019s \u201cHow To Corrupt Your Database Files\u201d, 2.2), so the descriptor could only be closed once no connection in the process holds the file, which the engine cannot know when an application embeds it and keeps its own connection open. This is most of what keeps the backup at 1,000 learnings above 1.5x of a plain copy and its check.',
  'Running the engine on the worker\u2019s own thread for databases too small to block it, without the hop to the engine thread (2026-12-03, in-process worker, 300 jobs of 1,000 learnings, 3 rounds alternated): 1.79 ms of overhead per job against 1.53 ms with the thread, which lets BullMQ\u2019s Redis work run beside the engine on the second core. Logging at `warn` instead of `info` saved about 0.1 ms; the step lines are what operators read, so kept.',
];
