import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI_BIN } from './cli.js';

/**
 * pino-pretty's and cli-progress's own escape sequences: colours, the cursor hidden and shown, saved and restored,
 * line wrapping off and on, line clearing.
 */
const TERMINAL_CONTROL = new RegExp(`${'\u001b'}(?:[78]|\\[(?:\\d+m|\\?(?:25|7)[lh]|\\d*[GK]))`, 'g');

/** The built CLI run with stdout and stderr on a pseudo-terminal, as an operator sees it. */
export interface CliOnTerminal {
  exited: Promise<number | null>;
  /**
   * What the terminal was sent so far, with CRLF as LF and the terminal's own sequences (colours, cursor, line
   * clearing) taken out: what is left of an escape sequence came from what the CLI printed.
   */
  shown(): string;
  /** Resolves once `shown()` includes `text`; rejects if the process ends first. */
  shows(text: string): Promise<void>;
}

/**
 * Runs `gao-migrate ...args` under script(1) (util-linux): stdout and stderr are a terminal, so the progress bar
 * and pretty logs show. The session is kept in `<dir>/transcript`, flushed as it is written.
 */
export function runCliOnTerminal(
  args: string[],
  options: { dir: string; env?: NodeJS.ProcessEnv },
): CliOnTerminal {
  const transcript = path.join(options.dir, `transcript-${process.hrtime.bigint()}`);
  const quoted = [process.execPath, CLI_BIN, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`);
  const child = spawn('script', ['-q', '-e', '-f', '-c', quoted.join(' '), transcript], {
    cwd: options.dir,
    env: { ...process.env, GAO_MIGRATE_LOG_LEVEL: 'silent', ...options.env },
    stdio: 'ignore',
  });
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  const shown = () => {
    const text = fs.existsSync(transcript) ? fs.readFileSync(transcript, 'utf8') : '';
    // script(1) frames the session with a line of its own before and after.
    const session = text.slice(text.indexOf('\n') + 1).replace(/\n?Script done on [^\n]*\n?$/, '');
    return session.replaceAll('\r\n', '\n').replace(TERMINAL_CONTROL, '');
  };
  const shows = async (text: string) => {
    for (;;) {
      if (shown().includes(text)) return;
      if (done) throw new Error(`the CLI exited without showing ${JSON.stringify(text)}:\n${shown()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  return { exited, shown, shows };
}
