import fs from 'node:fs';
import { notRegularFileProblem } from '../engine/file-kind.js';
import { uniqueDatabases } from '../producer/database-key.js';
import { expandGlob } from '../producer/glob.js';
import { UsageError } from './exit-codes.js';

export interface TargetOptions {
  db?: string[];
  glob?: string[];
  fromFile?: string[];
}

/**
 * --db, --glob and --from-file together, absolute and without repeats, in the order given: a database named twice
 * (also through a symbolic link, or in another case on a case-insensitive file system) is kept once, under the
 * first name given.
 */
export async function collectDatabases(options: TargetOptions): Promise<string[]> {
  const paths = [...(options.db ?? [])];
  // Resolved, an empty path would name the current directory and queue a job for it.
  if (paths.includes('')) throw new UsageError('--db was given an empty path: name a database file.');
  for (const pattern of options.glob ?? []) paths.push(...expandGlob(pattern));
  for (const list of options.fromFile ?? []) {
    readList(list)
      .split(/\r?\n/)
      .forEach((line, index) => {
        if (line.includes('\0')) {
          throw new UsageError(
            `Line ${index + 1} of ${list} holds a NUL character: a list is text, one database path per line.`,
          );
        }
        const entry = line.replace(/#.*$/, '').trim();
        if (entry) paths.push(entry);
      });
  }
  const unique = uniqueDatabases(paths);
  if (unique.length === 0) {
    throw new UsageError(
      'No databases given: use --db, --glob or --from-file (a glob that matched nothing counts as none).',
    );
  }
  const { jobDataSchema } = await import('../queue/contract.js'); // zod: only the commands that queue jobs load it
  for (const entry of unique) {
    const checked = jobDataSchema.shape.dbPath.safeParse(entry);
    if (!checked.success) {
      const shown = entry.length > 80 ? `${entry.slice(0, 80)}…` : entry;
      throw new UsageError(
        `The path ${JSON.stringify(shown)} cannot be a database: ${checked.error.issues[0]?.message}.`,
      );
    }
    // What is a pipe, a device or a directory here is one on a worker too (`/dev/stdin` would even be its own):
    // said now, in the words the worker would use, rather than by a failed job.
    const notAFile = notRegularFileProblem(entry);
    if (notAFile) throw new UsageError(notAFile.message, notAFile.code);
  }
  return unique;
}

/** The longest list read (a million paths of 100 characters take about 100 MiB). */
export const MAX_LIST_BYTES = 128 * 1024 * 1024;

/**
 * The text of a list of paths: a file, or a pipe such as `<(find … -name documents.db)`. Read up to
 * `MAX_LIST_BYTES`, so that a device that never ends (`/dev/zero`) is refused instead of filling memory.
 */
function readList(list: string): string {
  let fd: number;
  try {
    fd = fs.openSync(list, 'r');
  } catch (error) {
    throw new UsageError(`Cannot read the list ${list}: ${whyUnreadable(error)}.`);
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const read = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      total += read;
      if (total > MAX_LIST_BYTES) {
        throw new UsageError(
          `The list ${list} is over ${MAX_LIST_BYTES / 1024 / 1024} MiB: is it a list of database paths, one per line?`,
        );
      }
      chunks.push(Buffer.from(buffer.subarray(0, read)));
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`Cannot read the list ${list}: ${whyUnreadable(error)}.`);
  } finally {
    fs.closeSync(fd);
  }
}

/** Why a list cannot be read, in words, for the errors users meet. */
function whyUnreadable(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file (or a symbolic link to none)';
    case 'EISDIR':
      return 'it is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return code ?? String((error as Error)?.message ?? error);
  }
}

/** Repeatable commander option: collects every value. */
export const collect = (value: string, previous: string[]) => [...previous, value];
