import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import Database, { type Database as DatabaseHandle } from 'better-sqlite3';
import { ErrorCode, MigrationError } from './errors.js';
import { summarizeCheck } from './preconditions.js';

const requireHere = createRequire(import.meta.url);

/** What a copy must match: the source's page count, page size and schema size, read under its write lock. */
export interface BackupShape {
  pageCount: number;
  pageSize: number;
  schemaObjects: number;
}

export function expectedShape(db: DatabaseHandle): BackupShape {
  return {
    pageCount: Number(db.pragma('page_count', { simple: true })),
    pageSize: Number(db.pragma('page_size', { simple: true })),
    schemaObjects: (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n,
  };
}

export interface FileProblem {
  reason: 'open' | 'quick_check' | 'shape';
  detail: string;
}

export interface ExaminedCopy {
  sha256: string | null;
  problem: FileProblem | null;
}

/**
 * Opens a backup on its own and proves it usable: SQLite header, `quick_check` clean, and the same page count
 * and schema size as the source it was taken from. Throws `BACKUP_FAILED` naming what differs.
 */
export function checkBackup(backupPath: string, expected?: BackupShape): void {
  const problem = findProblem(backupPath, expected);
  if (problem) throw backupCheckFailed(problem);
}

export function backupCheckFailed(problem: FileProblem): MigrationError {
  return new MigrationError(
    ErrorCode.BACKUP_FAILED,
    `The backup did not pass its check (${describeProblem(problem)}); nothing was changed.`,
  );
}

function describeProblem(problem: FileProblem): string {
  return problem.reason === 'quick_check' ? `quick_check reported: ${problem.detail}` : problem.detail;
}

/** Returns why the file is not a sound database (or differs from `expected`), or null when it is. */
export function inspectDatabaseFile(filePath: string, expected?: BackupShape): string | null {
  const problem = findProblem(filePath, expected);
  return problem ? describeProblem(problem) : null;
}

export function sha256OfFile(filePath: string): string {
  return hashFile(filePath, MAIN_THREAD_DEPS);
}

interface ExamineDeps {
  Database: typeof Database;
  createHash: typeof createHash;
  fs: typeof fs;
}

const MAIN_THREAD_DEPS: ExamineDeps = { Database, createHash, fs };

function findProblem(filePath: string, expected?: BackupShape): FileProblem | null {
  const { problem } = examineCopy(filePath, expected, MAIN_THREAD_DEPS, false);
  return problem
    ? {
        ...problem,
        detail: problem.reason === 'quick_check' ? summarizeCheck(problem.detail) : problem.detail,
      }
    : null;
}

/**
 * Checks a copy that was just written, on this thread, with the three costs overlapped: the flush to disk runs
 * on libuv's thread pool, the SHA-256 comes from `image` (the bytes written, when the copy came from memory) or
 * from a thread of its own on large files, and `quick_check` runs here meanwhile. Returns once the copy is
 * durable, hashed and examined.
 */
export function checkCopyHere(filePath: string, expected: BackupShape, image?: Uint8Array): ExaminedCopy {
  flushInBackground(filePath);
  const hashing =
    image === undefined && fs.statSync(filePath).size >= HASH_IN_THREAD_FROM_BYTES
      ? runInThread('hash', filePath)
      : null;
  const imageHash = image === undefined ? null : createHash('sha256').update(image).digest('hex');
  const examined = examineCopy(filePath, expected, MAIN_THREAD_DEPS, false);
  const sha256 = imageHash ?? hashing?.result()?.sha256 ?? hashFile(filePath, MAIN_THREAD_DEPS);
  // Returns once the flush started above (or a later one) has reached the disk.
  fsyncFile(filePath);
  return { sha256, problem: examined.problem };
}

/** A check running on a worker thread while the caller goes on; `result()` waits for it. */
export interface CopyCheck {
  result(): ExaminedCopy;
  cancel(): void;
}

/**
 * Flushes, hashes and examines a copy on a worker thread, for a caller with its own work to do meanwhile (the
 * migration). A thread that never answers (it could not start) makes `result()` check on this thread instead.
 */
export function checkCopyInThread(filePath: string, expected: BackupShape): CopyCheck {
  const thread = runInThread('examine', filePath, expected);
  return {
    result: () => thread.result() ?? checkCopyHere(filePath, expected),
    cancel: thread.cancel,
  };
}

/** Below this size, hashing on this thread costs less than starting a thread for it (about 10 ms). */
const HASH_IN_THREAD_FROM_BYTES = 8 * 1024 * 1024;

/** Longest wait for a check thread before the check is done again on this thread. */
const THREAD_CHECK_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * Background flushes whose descriptor is still open. It is closed by a callback, which runs only when the event
 * loop turns: a caller running migrations one after another in a synchronous loop never lets it run.
 */
let flushesInFlight = 0;

/** Beyond this many, the flush is left to `fsyncFile` alone (macOS allows a process 256 descriptors by default). */
export const MAX_FLUSHES_IN_FLIGHT = 8;

/**
 * Starts the flush of a file to disk on libuv's thread pool and returns at once; its descriptor is closed when
 * it is done. `fsyncFile` afterwards waits for the pages it is writing, so the two cost about one flush.
 */
function flushInBackground(filePath: string): void {
  if (flushesInFlight >= MAX_FLUSHES_IN_FLIGHT) return;
  const fd = fs.openSync(filePath, 'r+');
  flushesInFlight += 1;
  fs.fsync(fd, () =>
    fs.close(fd, () => {
      flushesInFlight -= 1;
    }),
  );
}

/** Makes a file's content durable: fsync through a descriptor of its own, closed whatever happens. */
export function fsyncFile(filePath: string): void {
  const fd = fs.openSync(filePath, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Hashes a file and proves it a sound database: `quick_check` clean and, given `expected`, the same page count
 * and schema size as its source. Self-contained (no imports, no outer names but `hashFile`): a worker thread
 * runs it from its source text.
 */
function examineCopy(
  filePath: string,
  expected: BackupShape | undefined,
  deps: ExamineDeps,
  hash = true,
): ExaminedCopy {
  const sha256 = hash ? hashFile(filePath, deps) : null;
  let copy: DatabaseHandle | undefined;
  try {
    copy = new deps.Database(filePath, { readonly: true, fileMustExist: true });
    // The first row only, as SQLite reports it: stepping on into a damaged file makes it raise instead.
    const quick = String(copy.pragma('quick_check', { simple: true }));
    if (quick !== 'ok') return { sha256, problem: { reason: 'quick_check', detail: quick } };
    if (expected) {
      const pageCount = Number(copy.pragma('page_count', { simple: true }));
      const pageSize = Number(copy.pragma('page_size', { simple: true }));
      const schemaObjects = Number(copy.prepare('SELECT count(*) FROM sqlite_schema').pluck().get());
      if (pageSize !== expected.pageSize || pageCount !== expected.pageCount) {
        const detail = `${pageCount} pages of ${pageSize} bytes, expected ${expected.pageCount} of ${expected.pageSize}`;
        return { sha256, problem: { reason: 'shape', detail } };
      }
      if (schemaObjects !== expected.schemaObjects) {
        const detail = `${schemaObjects} schema objects, expected ${expected.schemaObjects}`;
        return { sha256, problem: { reason: 'shape', detail } };
      }
    }
    return { sha256, problem: null };
  } catch (error) {
    const detail = String((error as Error)?.message ?? error).replace(/[.\s]+$/, '');
    return { sha256, problem: { reason: 'open', detail } };
  } finally {
    copy?.close();
  }
}

/** SHA-256 of a file, read in chunks of up to 4 MiB. Self-contained, like `examineCopy`. */
function hashFile(filePath: string, deps: Pick<ExamineDeps, 'createHash' | 'fs'>): string {
  const hash = deps.createHash('sha256');
  const fd = deps.fs.openSync(filePath, 'r');
  try {
    const size = deps.fs.fstatSync(fd).size;
    const buffer = Buffer.allocUnsafe(Math.max(4096, Math.min(4 * 1024 * 1024, size)));
    for (;;) {
      const read = deps.fs.readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    deps.fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Runs a task on a worker thread: `hash` (the SHA-256 alone) or `examine` (flush, hash, `examineCopy`). The
 * engine is synchronous, so the answer is awaited with `Atomics.wait` and read with `receiveMessageOnPort`, not
 * with events. `result()` answers null when the thread gave no answer.
 */
function runInThread(task: 'hash' | 'examine', filePath: string, expected?: BackupShape) {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const source = `
const { workerData } = require('node:worker_threads');
${hashFile.toString()}
${examineCopy.toString()}
let result;
try {
  const deps = { createHash: require('node:crypto').createHash, fs: require('node:fs') };
  if (workerData.task === 'hash') {
    result = { sha256: hashFile(workerData.filePath, deps), problem: null };
  } else {
    deps.Database = require(workerData.sqlite);
    const fd = deps.fs.openSync(workerData.filePath, 'r+');
    try { deps.fs.fsyncSync(fd); } finally { deps.fs.closeSync(fd); }
    result = examineCopy(workerData.filePath, workerData.expected, deps);
  }
} catch (error) {
  result = { sha256: null, problem: { reason: 'open', detail: String((error && error.message) || error) } };
}
workerData.port.postMessage(result);
Atomics.store(workerData.flag, 0, 1);
Atomics.notify(workerData.flag, 0);
`;
  const thread = new Worker(source, {
    eval: true,
    workerData: {
      task,
      filePath,
      expected,
      sqlite: requireHere.resolve('better-sqlite3'),
      flag,
      port: port2,
    },
    transferList: [port2],
  });
  thread.unref();
  thread.on('error', () => {
    // Reported by result(): no answer means the work is done again on the calling thread.
  });
  const close = () => {
    port1.close();
    void thread.terminate();
  };
  return {
    result(): ExaminedCopy | null {
      Atomics.wait(flag, 0, 0, THREAD_CHECK_TIMEOUT_MS);
      const answer = receiveMessageOnPort(port1)?.message as ExaminedCopy | undefined;
      close();
      return answer?.sha256 ? answer : null;
    },
    cancel: close,
  };
}
