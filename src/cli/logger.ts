import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { PrettyOptions, PrettyStream } from 'pino-pretty';

import { printable, printableJson, printableStack } from '../queue/printable.js';
import { InvalidLogLevelError, logLevelFromEnv as levelFromEnv } from '../worker/log-level.js';
import { UsageError } from './exit-codes.js';

const require = createRequire(import.meta.url);

/** The level `GAO_MIGRATE_LOG_LEVEL` asks for (default `info`); checked before a command starts, not mid-way. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  try {
    return levelFromEnv(env);
  } catch (error) {
    if (error instanceof InvalidLogLevelError) throw new UsageError(error.message, error.code);
    throw error;
  }
}

export function createCliLogger(level: string): Logger {
  // Required on first use, not imported: `--help`, and commands refused before they log, never load pino.
  const pino = require('pino') as typeof import('pino');
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (process.stderr.isTTY && level !== 'silent') {
    // Readable lines for people at a terminal; pino-pretty loads only then, to keep scripted runs fast.
    return pino(options, createPrettyStream(2));
  }
  const destination = pino.destination({ dest: 2, sync: true });
  // A line stderr cannot take (`2> log` on a full disk) is lost, not the run: unheard, the stream's 'error' would
  // be thrown out of the logging call and end the process mid-migration, with exit 1 and no word of why.
  destination.on('error', () => {});
  return pino(options, destination);
}

/** The keys pino-pretty prints itself, in a line's head; it prettifies them through `customPrettifiers` by name. */
const PINO_KEYS = new Set(['level', 'time', 'timestamp', 'pid', 'hostname', 'name', 'caller', 'msg']);

/**
 * A field of a log line as pino-pretty shows it (indented JSON), its strings escaped as `printable`'s: a path or an
 * error message from outside may hold an escape sequence. An error's stack keeps a frame a line.
 */
function prettifyField(value: unknown): string {
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { stack?: unknown }).stack === 'string'
  ) {
    const error = value as { stack: string; message?: unknown };
    const message = typeof error.message === 'string' ? error.message : '';
    // pino-pretty unfolds a "stack" line of an error field into lines; it shows this text, escaped, as is.
    return printableJson({ ...error, stack: printableStack(error.stack, message) });
  }
  return printableJson(value);
}

/**
 * pino-pretty takes a prettifier per key name, and a log line's keys are whatever its call passes: this object
 * answers every key but pino's own with `prettifyField`, so that no field is printed raw.
 */
const EVERY_FIELD = new Proxy(
  {},
  { get: (_target, key) => (typeof key === 'string' && !PINO_KEYS.has(key) ? prettifyField : undefined) },
) as PrettyOptions['customPrettifiers'];

/**
 * pino-pretty's stream for a terminal, writing to `destination` (a file descriptor or a stream). pino-pretty
 * strips some control characters and leaves others, and newlines, raw; here the message is shown `printable`
 * and every field's strings escaped the same way, so a path with `\u001b[2J` or a newline in it neither clears
 * the terminal nor forges a line. JSON logs (stderr not a terminal) are not made here and keep the raw text.
 */
export function createPrettyStream(destination: PrettyOptions['destination']): PrettyStream {
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pretty({
    destination,
    sync: true,
    colorize: true,
    ignore: 'pid,hostname',
    messageFormat: (log, messageKey) => {
      const message = log[messageKey];
      return message === undefined ? '' : printable(String(message));
    },
    customPrettifiers: EVERY_FIELD,
  });
}
