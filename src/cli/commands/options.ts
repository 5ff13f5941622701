import path from 'node:path';
import { InvalidArgumentError } from 'commander';

/** Where gao-dev keeps a project's database, relative to the project's root. */
export const DEFAULT_DB_PATH = path.join('.gao-dev', 'documents.db');

export function parseNonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed)) {
    throw new InvalidArgumentError('Expected a whole number of 0 or more.');
  }
  return parsed;
}

export function parsePositiveInt(value: string): number {
  const parsed = parseNonNegativeInt(value);
  if (parsed === 0) throw new InvalidArgumentError('Expected a whole number of 1 or more.');
  return parsed;
}
