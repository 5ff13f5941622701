import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeUnexpectedError } from '../../src/cli/output.js';
import { CLI_BIN } from '../helpers/cli.js';

const PINO_THROWS = fileURLToPath(new URL('./fixtures/pino-throws.mjs', import.meta.url));
/** An error message that would clear an operator's screen and forge a frame of the stack if printed raw. */
const HOSTILE = 'open /srv/proj\u001b[2J\n    at forged (frame.js:1:1)\u009b31m\u202e';
/** Any control character but the newline, or a separator or bidi override. */
const RAW = /(?!\n)[\p{Cc}\u2028\u2029\u202a-\u202e]/u;

describe('an unexpected error (a bug)', () => {
  it('shows its stack a frame a line, its message escaped', () => {
    const run = spawnSync(process.execPath, ['--import', PINO_THROWS, CLI_BIN, 'verify', '--db', 'x.db'], {
      env: { ...process.env, PINO_THROWS: HOSTILE, GAO_MIGRATE_LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).not.toMatch(RAW);
    const [first, ...frames] = run.stderr.replace(/\n$/, '').split('\n');
    expect(first).toBe(
      'gao-migrate: unexpected error: Error: "open /srv/proj\\u001b[2J\\n    at forged (frame.js:1:1)\\u009b31m\\u202e"',
    );
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) expect(frame).toMatch(/^ {4}at \S/);
    expect(frames.join('\n')).not.toContain('forged');
    expect(frames.some((frame) => frame.includes('logger.js'))).toBe(true);
  });

  it('shows anything else thrown on one line, escaped', () => {
    expect(describeUnexpectedError('bad\u001b[2J\nthing')).toBe('"bad\\u001b[2J\\nthing"');
    expect(describeUnexpectedError(42)).toBe('42');
  });
});
