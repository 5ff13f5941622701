export {
  createFleetClient,
  type FleetClient,
  RolloutNotFoundError,
  type StartRolloutInput,
} from './client.js';
export { type RolloutController, startRolloutController } from './controller.js';
export { keptOutcomesKey, removeKeptOutcomes } from './kept-outcomes.js';
export { collectReport } from './report.js';
export {
  KEPT_OUTCOMES_TTL_SECONDS,
  ROLLOUT_JOB_RETENTION,
  ROLLOUT_KEEP_COUNT,
  ROLLOUT_KEEP_DAYS,
  type RolloutRetention,
} from './retention.js';
export * from './rollout.js';
