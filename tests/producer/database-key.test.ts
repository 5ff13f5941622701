import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { databaseKeyOf } from '../../src/producer/database-key.js';
import { tempDir } from '../queue/helpers.js';

describe('databaseKeyOf', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.realpathSync.native(tempDir());
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names a file through a symbolic link, a relative path or a/../a by its real path', () => {
    const real = path.join(dir, 'project', 'documents.db');
    fs.mkdirSync(path.dirname(real));
    fs.writeFileSync(real, '');
    fs.symlinkSync(path.dirname(real), path.join(dir, 'link'));

    expect(databaseKeyOf(path.join(dir, 'link', 'documents.db'))).toBe(real);
    expect(databaseKeyOf(`${dir}/link/../link/documents.db`)).toBe(real);
    expect(databaseKeyOf(path.relative(process.cwd(), real))).toBe(real);
  });

  it('names a file not there yet by its directory real path, and one without a directory as given', () => {
    fs.mkdirSync(path.join(dir, 'project'));
    fs.symlinkSync(path.join(dir, 'project'), path.join(dir, 'link'));

    expect(databaseKeyOf(path.join(dir, 'link', 'later.db'))).toBe(path.join(dir, 'project', 'later.db'));
    expect(databaseKeyOf(path.join(dir, 'none', 'x.db'))).toBe(path.join(dir, 'none', 'x.db'));
  });
});
