import fs from 'node:fs';
import path from 'node:path';

/** A temporary copy beside a database, and the process that was writing it. */
export interface PartialCopy {
  path: string;
  pid: number;
}

/**
 * The temporary copies beside a database: `<stem>.<anything>.partial-<pid>`, with the `-wal` and `-shm` SQLite may
 * leave beside them. Backups and restores write under such names before the checked file is given its own, so no
 * file named like this is ever a backup or a database.
 */
export function partialCopiesBeside(dbPath: string): PartialCopy[] {
  const { dir, name } = path.parse(dbPath);
  const pattern = new RegExp(
    `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\..+\\.partial-(\\d+)(?:-wal|-shm)?$`,
  );
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const pid = Number(pattern.exec(entry)?.[1]);
    return pid ? [{ path: path.join(dir, entry), pid }] : [];
  });
}
