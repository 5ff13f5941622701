import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefusedPathError, resolveAllowedPath, rootsFromEnv } from '../../src/worker/allowed-roots.js';
import { tempDir } from '../queue/helpers.js';

// Made before the first test, not while the file is collected: with every test filtered out (-t), no afterAll
// would remove it.
let dir: string;
let rootA: string;
let rootB: string;
beforeAll(() => {
  dir = tempDir('gao-migrate-roots-');
  rootA = path.join(dir, 'a');
  rootB = path.join(dir, 'b');
  fs.mkdirSync(rootA);
  fs.mkdirSync(rootB);
  fs.writeFileSync(path.join(rootB, 'x.db'), '');
  fs.writeFileSync(path.join(dir, 'outside.db'), '');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('allowed roots', () => {
  it('reads GAO_MIGRATE_ROOTS split by the platform delimiter, defaulting to the current directory', () => {
    expect(rootsFromEnv({ GAO_MIGRATE_ROOTS: [rootA, '', rootB].join(path.delimiter) })).toEqual([
      rootA,
      rootB,
    ]);
    expect(rootsFromEnv({}, rootA)).toEqual([rootA]);
    expect(() => rootsFromEnv({ GAO_MIGRATE_ROOTS: path.join(dir, 'missing') })).toThrow(/does not exist/);
  });

  it('refuses a root that is not a directory, also through a symbolic link: no database lies under a file', () => {
    const file = path.join(rootB, 'x.db');
    const link = path.join(dir, 'link-to-file');
    fs.symlinkSync(file, link);
    for (const root of [file, link]) {
      expect(() => rootsFromEnv({ GAO_MIGRATE_ROOTS: root })).toThrow(
        `Allowed root ${root} is not a directory`,
      );
    }
    fs.rmSync(link);
  });

  it('takes a blank GAO_MIGRATE_ROOTS (empty, spaces, only separators) for the default, the current directory', () => {
    for (const blank of ['', '   ', path.delimiter, ` ${path.delimiter} `]) {
      expect(rootsFromEnv({ GAO_MIGRATE_ROOTS: blank }, rootA)).toEqual([rootA]);
    }
  });

  it('accepts a file under any root and returns its real path', () => {
    expect(resolveAllowedPath(path.join(rootB, 'x.db'), [rootA, rootB])).toBe(path.join(rootB, 'x.db'));
    expect(resolveAllowedPath('x.db', [rootB], rootB)).toBe(path.join(rootB, 'x.db'));
  });

  it('accepts a file under a directory whose name starts with two dots', () => {
    const archived = path.join(rootA, '..archive', '.gao-dev', 'documents.db');
    fs.mkdirSync(path.dirname(archived), { recursive: true });
    fs.writeFileSync(archived, '');
    expect(resolveAllowedPath(archived, [rootA])).toBe(archived);
  });

  it('refuses files outside, a root that is only a name prefix, and missing files', () => {
    expect(() => resolveAllowedPath(path.join(dir, 'outside.db'), [rootA])).toThrow(RefusedPathError);
    // Whether the roots came from --roots, GAO_MIGRATE_ROOTS or code, the sentence says how to allow the file.
    expect(() => resolveAllowedPath(path.join(dir, 'outside.db'), [rootA])).toThrow(
      `Database ${path.join(dir, 'outside.db')} is outside the allowed roots (${rootA}); add a directory above it to the worker's roots (--roots or GAO_MIGRATE_ROOTS) to allow it.`,
    );
    fs.mkdirSync(`${rootA}-evil`, { recursive: true });
    fs.writeFileSync(path.join(`${rootA}-evil`, 'y.db'), '');
    expect(() => resolveAllowedPath(path.join(`${rootA}-evil`, 'y.db'), [rootA])).toThrow(
      /outside the allowed roots/,
    );
    expect(() => resolveAllowedPath(path.join(rootA, 'none.db'), [rootA])).toThrow(
      `Database ${path.join(rootA, 'none.db')} does not exist.`,
    );
    // A symbolic link to nothing says where it leads.
    const link = path.join(rootA, 'link-to-none.db');
    fs.symlinkSync(path.join(rootA, 'moved.db'), link);
    expect(() => resolveAllowedPath(link, [rootA])).toThrow(
      new RefusedPathError(
        `Database ${link} does not exist: it is a symbolic link to ${path.join(rootA, 'moved.db')}, where there is no file.`,
        'DB_NOT_FOUND',
      ),
    );
    fs.rmSync(link);
  });
});
