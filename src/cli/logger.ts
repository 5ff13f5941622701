import { createRequire } from 'node:module';
import type { Logger } from 'pino';

import { UsageError } from './exit-codes.js';

const require = createRequire(import.meta.url);

/** pino's levels, and `silent`, which turns logs off. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The level `GAO_MIGRATE_LOG_LEVEL` asks for (default `info`); checked before a command starts, not mid-way. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const level = env.GAO_MIGRATE_LOG_LEVEL?.trim() || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(
      `GAO_MIGRATE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level.slice(0, 40))}.`,
    );
  }
  return level;
}

export function createCliLogger(level: string): Logger {
  // Required on first use, not imported: `--help`, and commands refused before they log, never load pino.
  const pino = require('pino') as typeof import('pino');
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (process.stderr.isTTY && level !== 'silent') {
    // Readable lines for people at a terminal; pino-pretty loads only then, to keep scripted runs fast.
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    return pino(options, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  const destination = pino.destination({ dest: 2, sync: true });
  // A line stderr cannot take (`2> log` on a full disk) is lost, not the run: unheard, the stream's 'error' would
  // be thrown out of the logging call and end the process mid-migration, with exit 1 and no word of why.
  destination.on('error', () => {});
  return pino(options, destination);
}
