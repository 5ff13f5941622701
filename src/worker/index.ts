export { RefusedPathError, resolveAllowedPath, resolveRoots, rootsFromEnv } from './allowed-roots.js';
export { createThreadEngineRunner, type EngineRunner, EngineThreadError } from './engine-runner.js';
export {
  acquireFileLock,
  DEFAULT_FILE_LOCK_STALE_MS,
  DEFAULT_FILE_LOCK_TIMEOUT_MS,
  FileLockError,
  FileLockHeldError,
  type FileLockOptions,
  lockPathOf,
} from './file-lock.js';
export { InvalidLogLevelError } from './log-level.js';
export {
  createMigrationWorker,
  type MigrationWorker,
  type MigrationWorkerOptions,
} from './migration-worker.js';
export { createMigrationProcessor, type MigrationProcessor, type ProcessorOptions } from './processor.js';
