import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandGlob, globToRegExp } from '../../src/producer/glob.js';
import { tempDir } from '../queue/helpers.js';

const files = [
  'p1/.gao-dev/documents.db',
  'p2/.gao-dev/documents.db',
  'p2/.gao-dev/documents.backup_1.db',
  'deep/a/b/.gao-dev/documents.db',
  'p3/other.db',
  'top.db',
];
// Made before the first test, not while the file is collected: with every test filtered out (-t), no afterAll
// would remove it.
let dir: string;
beforeAll(() => {
  dir = tempDir('gao-migrate-glob-');
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), '');
  }
  fs.mkdirSync(path.join(dir, 'dir.db'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const abs = (...names: string[]) => names.map((name) => path.join(dir, name)).sort();

describe('globToRegExp', () => {
  it('keeps * and ? within one segment and lets ** span any number of segments', () => {
    expect(globToRegExp('*.db').test('top.db')).toBe(true);
    expect(globToRegExp('*.db').test('p3/other.db')).toBe(false);
    expect(globToRegExp('p?/x').test('p1/x')).toBe(true);
    expect(globToRegExp('p?/x').test('p10/x')).toBe(false);
    expect(globToRegExp('**/documents.db').test('documents.db')).toBe(true);
    expect(globToRegExp('**/documents.db').test('a/b/.gao-dev/documents.db')).toBe(true);
    expect(globToRegExp('a/**').test('a/b/c')).toBe(true);
    expect(globToRegExp('a.(b)+[c]').test('a.(b)+[c]')).toBe(true);
    expect(globToRegExp('a.(b)+[c]').test('aX(b)+[c]')).toBe(false);
  });
});

describe('expandGlob', () => {
  it('finds files under dot folders with **, relative to the given directory', () => {
    expect(expandGlob('**/documents.db', dir)).toEqual(
      abs('p1/.gao-dev/documents.db', 'p2/.gao-dev/documents.db', 'deep/a/b/.gao-dev/documents.db'),
    );
  });

  it('matches one level per * segment and skips directories', () => {
    expect(expandGlob('*/.gao-dev/documents.db', dir)).toEqual(
      abs('p1/.gao-dev/documents.db', 'p2/.gao-dev/documents.db'),
    );
    expect(expandGlob('*.db', dir)).toEqual(abs('top.db'));
  });

  it('takes absolute patterns and literal paths', () => {
    expect(expandGlob(`${dir}/p2/.gao-dev/documents.*.db`)).toEqual(abs('p2/.gao-dev/documents.backup_1.db'));
    expect(expandGlob('p3/other.db', dir)).toEqual(abs('p3/other.db'));
    expect(expandGlob('p3/missing.db', dir)).toEqual([]);
    expect(expandGlob('nowhere/**/x.db', dir)).toEqual([]);
  });
});
