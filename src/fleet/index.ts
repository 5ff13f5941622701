export { createFleetClient, type FleetClient, type StartRolloutInput } from './client.js';
export { type RolloutController, startRolloutController } from './controller.js';
export { keptOutcomesKey, removeKeptOutcomes } from './kept-outcomes.js';
export { collectReport } from './report.js';
export * from './rollout.js';
