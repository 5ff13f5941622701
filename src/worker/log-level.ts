/** pino's levels, and `silent`, which turns logs off. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * A `GAO_MIGRATE_LOG_LEVEL` that is not one of `LOG_LEVELS`: pino would throw its own error, with a stack trace,
 * from whatever built the logger. Its message is one sentence.
 */
export class InvalidLogLevelError extends TypeError {
  readonly code = 'INVALID_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidLogLevelError';
  }
}

/**
 * The level `GAO_MIGRATE_LOG_LEVEL` asks for (default `info`; blank means the default), checked before anything
 * starts rather than when the first line is logged. The CLI and a worker given no logger share it.
 */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const level = env.GAO_MIGRATE_LOG_LEVEL?.trim() || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new InvalidLogLevelError(
      `GAO_MIGRATE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level.slice(0, 40))}.`,
    );
  }
  return level;
}
