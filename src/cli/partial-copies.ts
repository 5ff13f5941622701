import fs from 'node:fs';
import path from 'node:path';
import { partialCopiesBeside } from '../engine/partial-copies.js';

/**
 * Removes the temporary copies this process was writing beside a database (see `partialCopiesBeside`) once the
 * thread that wrote them is stopped; returns how many there were.
 */
export function removeOwnPartialCopies(dbPath: string): number {
  const resolved = path.resolve(dbPath);
  const own = partialCopiesBeside(fs.existsSync(resolved) ? fs.realpathSync(resolved) : resolved).filter(
    (copy) => copy.pid === process.pid,
  );
  for (const copy of own) fs.rmSync(copy.path, { force: true });
  return own.length;
}
