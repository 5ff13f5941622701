import { createRequire } from 'node:module';
import type { Logger } from 'pino';

const require = createRequire(import.meta.url);

/** Log level from `GAO_MIGRATE_LOG_LEVEL` (default `info`); `silent` turns logs off. */
export function createCliLogger(level = process.env.GAO_MIGRATE_LOG_LEVEL ?? 'info'): Logger {
  // Required on first use, not imported: `--help`, and commands refused before they log, never load pino.
  const pino = require('pino') as typeof import('pino');
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (process.stderr.isTTY && level !== 'silent') {
    // Readable lines for people at a terminal; pino-pretty loads only then, to keep scripted runs fast.
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    return pino(options, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}
