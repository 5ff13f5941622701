import fs from 'node:fs';
import path from 'node:path';
import { isBackupChecksumName } from '../engine/backup-checksum.js';
import { backupNameOf, backupNameProblem } from '../engine/backup-name.js';
import { notRegularFileProblem } from '../engine/file-kind.js';
import { databaseKeyOf, uniqueDatabases } from '../producer/database-key.js';
import { expandGlob } from '../producer/glob.js';
import type { JobOperation } from '../queue/contract.js';
import { UsageError } from './exit-codes.js';
import { namedAsBackups } from './output.js';

export interface TargetOptions {
  db?: string[];
  glob?: string[];
  fromFile?: string[];
}

/** The databases `enqueue` or `fleet` is to queue jobs for, and what their globs matched that is no database. */
export interface Targets {
  /** Absolute, each database once, in the order given. */
  databases: string[];
  /**
   * Files a `--glob` matched that are named as gao-migrate names its backups (`<stem>.backup_<ts>.db`, ...): left
   * out, absolute, each once. A backup given by name (`--db`, `--from-file`) is not among them.
   */
  leftOutBackups: string[];
}

/**
 * --db, --glob and --from-file together, absolute and without repeats, in the order given: a database named twice
 * (also through a symbolic link, or in another case on a case-insensitive file system) is kept once, under the
 * first name given. A glob leaves out the backups beside each database (they are not project databases, and a
 * worker would refuse to change them); a backup given by name is refused for `up` and `down`, taken for `verify`.
 */
export async function collectDatabases(op: JobOperation, options: TargetOptions): Promise<Targets> {
  const paths = [...(options.db ?? [])];
  // Resolved, an empty path would name the current directory and queue a job for it.
  if (paths.includes('')) throw new UsageError('--db was given an empty path: name a database file.');
  const globbedBackups: string[] = [];
  for (const pattern of options.glob ?? []) {
    for (const match of expandGlob(pattern)) {
      // The checksum beside a backup (`<backup>.sha256`) is no database either: a glob such as `.gao-dev/*` catches it.
      (backupNamed(match) || isBackupChecksumName(match) ? globbedBackups : paths).push(match);
    }
  }
  for (const list of options.fromFile ?? []) {
    readList(list)
      .split(/\r?\n/)
      .forEach((line, index) => {
        if (line.includes('\0')) {
          throw new UsageError(
            `Line ${index + 1} of ${list} holds a NUL character: a list is text, one database path per line.`,
          );
        }
        // Only a whole line is a comment, as in rsync's --files-from: a `#` inside a path (`/srv/C#-tools/.gao-dev/…`,
        // `Project #2`, as `find` prints them) is part of it.
        const entry = line.trim();
        if (entry && !entry.startsWith('#')) paths.push(entry);
      });
  }
  const unique = uniqueDatabases(paths);
  // A backup also given by name (to verify it) is taken, not left out.
  const taken = new Set(unique.map(databaseKeyOf));
  const leftOutBackups = uniqueDatabases(globbedBackups).filter(
    (backup) => !taken.has(databaseKeyOf(backup)),
  );
  if (unique.length === 0) {
    const count = leftOutBackups.length;
    const backups =
      count === 0
        ? ''
        : count === 1
          ? `; the one file --glob matched is named as ${namedAsBackups(leftOutBackups)}, which a glob leaves out`
          : `; the ${count} files --glob matched are named as ${namedAsBackups(leftOutBackups)}, which a glob leaves out`;
    throw new UsageError(
      `No databases given: use --db, --glob or --from-file (a glob that matched nothing counts as none${backups}).`,
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
    // A worker would fail the job at once (DB_IS_BACKUP): said now, in its words, before anything is queued.
    const backup = op === 'verify' ? undefined : backupNamed(entry);
    const isBackup = backup ? backupNameProblem(backup) : null;
    if (isBackup) throw new UsageError(isBackup.message, isBackup.code);
  }
  return { databases: unique, leftOutBackups };
}

/**
 * The path under which `entry` is named as a gao-migrate backup: its own name, else (a symbolic link) the name of
 * the file it leads to, which is the one the engine checks. Undefined for a file named as anything else.
 */
function backupNamed(entry: string): string | undefined {
  const absolute = path.resolve(entry);
  if (backupNameOf(absolute)) return absolute;
  const real = databaseKeyOf(absolute);
  return backupNameOf(real) ? real : undefined;
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
