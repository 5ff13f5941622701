import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrettyStream } from '../../src/cli/logger.js';
import { CLI_BIN, runCli } from '../helpers/cli.js';
import { sampleDb, tempDir } from '../queue/helpers.js';

/** A directory name that would clear an operator's screen and forge a line of output if printed raw. */
const HOSTILE = 'proj\u001b[2J\nforged.db \u009b31m \u202e';
/** pino-pretty's own colours: the only escape sequences a pretty line may hold. */
const COLOUR = new RegExp(`${'\u001b'}\\[\\d+m`, 'g');
/** Any control character but the newline, or a separator or bidi override, once the colours are taken out. */
const RAW = /(?!\n)[\p{Cc}\u2028\u2029\u202a-\u202e]/u;

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What pino-pretty, as the CLI sets it up for a terminal, writes for the lines `log` logs. */
async function prettyLines(log: (logger: pino.Logger) => void): Promise<string> {
  let text = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  const finished = new Promise((resolve) => sink.once('finish', resolve));
  const stream = createPrettyStream(sink);
  log(pino({ level: 'info' }, stream));
  stream.end();
  await finished;
  return text;
}

describe('logs on a terminal (pino-pretty)', () => {
  it('shows the message and every field escaped, an error stack a frame a line', async () => {
    const text = await prettyLines((logger) => {
      logger
        .child({ db: HOSTILE })
        .info({ paths: [HOSTILE], nested: { at: HOSTILE }, count: 3 }, `up ${HOSTILE}`);
      logger.error({ err: new Error(`open ${HOSTILE}`) }, 'plain message');
    });
    const plain = text.replace(COLOUR, '');
    expect(plain).not.toMatch(RAW);
    const quoted = JSON.stringify(HOSTILE)
      .slice(1, -1)
      .replace('\u009b', '\\u009b')
      .replace('\u202e', '\\u202e');
    expect(plain).toContain(`INFO: "up ${quoted}"\n`);
    expect(plain).toContain(`    db: "${quoted}"\n`);
    expect(plain).toContain(`    paths: [\n      "${quoted}"\n    ]\n`);
    expect(plain).toContain(`    nested: {\n      "at": "${quoted}"\n    }\n`);
    expect(plain).toContain('    count: 3\n');
    expect(plain).toContain('ERROR: plain message\n');
    expect(plain).toMatch(new RegExp(`\n {10}Error: "open ${escapeRegExp(quoted)}"\n {14}at `));
    expect(plain.split('\n').filter((line) => line.startsWith('forged'))).toEqual([]);
  });

  it('the CLI on a real terminal escapes them; its JSON logs elsewhere keep the text exact', () => {
    const missing = path.join(dir, HOSTILE, 'missing.db');
    const transcript = path.join(dir, 'transcript');
    // script(1) runs the command with stdout and stderr on a pseudo-terminal and keeps what it showed.
    const onTerminal = spawnSync(
      'script',
      ['-q', '-e', '-c', `"${process.execPath}" "${CLI_BIN}" verify --db "$DB"`, transcript],
      {
        env: { ...process.env, DB: missing, GAO_MIGRATE_LOG_LEVEL: 'info' },
        stdio: 'ignore',
        timeout: 30_000,
      },
    );
    expect(onTerminal.status).toBe(2);
    const shown = fs.readFileSync(transcript, 'utf8').replace(COLOUR, '').replaceAll('\r\n', '\n');
    const quoted = JSON.stringify(missing)
      .slice(1, -1)
      .replace('\u009b', '\\u009b')
      .replace('\u202e', '\\u202e');
    expect(shown).toContain(`ERROR: "No database at ${quoted}: the file does not exist."\n`);
    expect(shown).toContain(`    db: "${quoted}"\n`);
    const session = shown.slice(shown.indexOf('\n') + 1, shown.lastIndexOf('\nScript done'));
    expect(session).not.toMatch(RAW);
    expect(session.split('\n').filter((line) => line.startsWith('forged'))).toEqual([]);

    const db = sampleDb(dir, HOSTILE);
    const piped = runCli(['verify', '--db', db]);
    const log = JSON.parse(piped.stderr.trim().split('\n').at(-1) ?? '');
    expect(log.db).toBe(db);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
