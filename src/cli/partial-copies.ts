import fs from 'node:fs';
import path from 'node:path';

/**
 * Removes the temporary copies this process was writing beside a database (`<stem>.*.partial-<pid>`, never a
 * backup's name) once the thread that wrote them is stopped; returns how many there were.
 */
export function removeOwnPartialCopies(dbPath: string): number {
  const resolved = path.resolve(dbPath);
  const { dir, name } = path.parse(fs.existsSync(resolved) ? fs.realpathSync(resolved) : resolved);
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^${escaped}\\..+\\.partial-${process.pid}(?:-wal|-shm)?$`);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const entry of entries.filter((candidate) => pattern.test(candidate))) {
    fs.rmSync(path.join(dir, entry), { force: true });
    removed += 1;
  }
  return removed;
}
