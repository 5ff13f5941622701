export { backupPathFor, createBackup } from './backup.js';
export { checkBackup, sha256OfFile } from './backup-check.js';
export { ErrorCode, isMigrationError, MigrationError, RETRYABLE_CODES } from './errors.js';
export {
  DEFAULT_BUSY_TIMEOUT_MS,
  DEFAULT_RESERVE_BYTES,
  Migrator,
  type MigratorOptions,
  type RunInput,
} from './migrator.js';
export { type RestoreInput, type RestoreResult, restoreBackup } from './restore.js';
export type * from './types.js';
