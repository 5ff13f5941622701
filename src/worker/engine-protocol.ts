import type { RunInput } from '../engine/migrator.js';
import type { Operation, ProgressEvent, RunResult } from '../engine/types.js';

/** A request to the engine thread. */
export interface EngineRequest {
  id: number;
  op: Operation;
  input: RunInput;
  busyTimeoutMs: number;
}

/** What the engine thread sends back: progress events, then exactly one result. */
export type EngineReply =
  | { id: number; type: 'progress'; event: ProgressEvent }
  | { id: number; type: 'result'; result: RunResult };
