/** Default time a job waits for another worker's file lock before it is retried later. */
export const DEFAULT_FILE_LOCK_TIMEOUT_MS = 30_000;
/** A lock not refreshed for this long belongs to a crashed worker and is taken over. */
export const DEFAULT_FILE_LOCK_STALE_MS = 10_000;
