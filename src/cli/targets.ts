import fs from 'node:fs';
import path from 'node:path';
import { expandGlob } from '../producer/glob.js';
import { UsageError } from './exit-codes.js';

export interface TargetOptions {
  db?: string[];
  glob?: string[];
  fromFile?: string[];
}

/** --db, --glob and --from-file together, absolute and without repeats, in the order given. */
export function collectDatabases(options: TargetOptions): string[] {
  const paths = [...(options.db ?? [])];
  for (const pattern of options.glob ?? []) paths.push(...expandGlob(pattern));
  for (const list of options.fromFile ?? []) {
    let text: string;
    try {
      text = fs.readFileSync(list, 'utf8');
    } catch {
      throw new UsageError(`Cannot read the list ${list}.`);
    }
    paths.push(
      ...text
        .split(/\r?\n/)
        .map((line) => line.replace(/#.*$/, '').trim())
        .filter(Boolean),
    );
  }
  const unique = [...new Set(paths.map((entry) => path.resolve(entry)))];
  if (unique.length === 0) {
    throw new UsageError(
      'No databases given: use --db, --glob or --from-file (a glob that matched nothing counts as none).',
    );
  }
  return unique;
}

/** Repeatable commander option: collects every value. */
export const collect = (value: string, previous: string[]) => [...previous, value];
