import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers.js';

/**
 * The test files that keep temp directories for all their tests (made in beforeAll, removed in afterAll), and
 * migrator.test.ts, which also makes databases while it is collected (to name its tests) and removes them at once.
 */
const FILES_WITH_A_DIRECTORY = [
  'tests/producer/glob.test.ts',
  'tests/worker/allowed-roots.test.ts',
  'tests/worker/redis-restart.test.ts',
  'tests/worker/redis-away.test.ts',
  'tests/cli/redis-away.test.ts',
  'tests/reliability/hostile-input.test.ts',
  'tests/engine/migrator.test.ts',
];

let tmp: string | undefined;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe('temp directories of the tests', () => {
  it('are not left behind by a file whose every test is filtered out (vitest -t)', () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gao-migrate-tmpdir-'));
    // A directory made while the file is collected stays when no test runs: afterAll runs only after tests.
    const run = spawnSync(
      process.execPath,
      [
        path.join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
        'run',
        ...FILES_WITH_A_DIRECTORY,
        '-t',
        'no test has this name',
      ],
      { cwd: REPO_ROOT, env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/skipped/);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
