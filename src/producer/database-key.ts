import fs from 'node:fs';
import path from 'node:path';

/**
 * The one name of a database, whichever way it was given: its real path (`fs.realpathSync.native`: symbolic links
 * resolved, `a/../a` folded, and on a case-insensitive file system the case on disk), so that the same file named
 * through a symlinked directory, a relative path or an absolute one is one target, one deduplication id and one
 * `last-changes` key. A file that is not there (yet) is named by its directory's real path and its own name; when
 * even that cannot be resolved (no such directory, no permission), by the absolute path as given: the worker then
 * fails its job with the one sentence that says what is wrong (`DB_NOT_FOUND`, ...). Never throws.
 *
 * @example databaseKeyOf('link/.gao-dev/documents.db') // '/srv/projects/a/.gao-dev/documents.db'
 */
export function databaseKeyOf(dbPath: string): string {
  const absolute = path.resolve(dbPath);
  try {
    return fs.realpathSync.native(absolute);
  } catch {
    try {
      return path.join(fs.realpathSync.native(path.dirname(absolute)), path.basename(absolute));
    } catch {
      return absolute;
    }
  }
}

/**
 * The paths, absolute and each database once (by `databaseKeyOf`), in the order given: a database named twice is
 * kept under the first name given.
 */
export function uniqueDatabases(paths: readonly string[]): string[] {
  const byKey = new Map<string, string>();
  for (const entry of paths) {
    const absolute = path.resolve(entry);
    const key = databaseKeyOf(absolute);
    if (!byKey.has(key)) byKey.set(key, absolute);
  }
  return [...byKey.values()];
}
