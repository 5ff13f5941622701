import type { Migration } from '../engine/types.js';
import { migration006 } from './006-learning-application-tracking.js';

/** Every migration this tool knows, oldest first. */
export const migrations: readonly Migration[] = Object.freeze([migration006]);

export const LATEST_MIGRATION = '006';

export { migration006 };
