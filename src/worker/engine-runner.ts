import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RunInput } from '../engine/migrator.js';
import type { Operation, ProgressListener, RunResult } from '../engine/types.js';
import type { EngineReply, EngineRequest } from './engine-protocol.js';

/** Runs the synchronous engine somewhere that does not block the caller's event loop. */
export interface EngineRunner {
  run(op: Operation, input: RunInput, onProgress?: ProgressListener): Promise<RunResult>;
  /** Stops the thread; safe to call twice. A run still in flight is rejected. */
  close(): Promise<void>;
}

/** The engine thread died (crash, out of memory): the run may be retried; SQLite rolls back what it left. */
export class EngineThreadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineThreadError';
  }
}

/**
 * The compiled thread script. Beside this module when running from dist/; when this module runs from src/
 * (vitest), the compiled copy in dist/ (tests build first).
 */
export function engineThreadUrl(): URL {
  const beside = new URL('./engine-thread.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(beside))) return beside;
  const built = new URL('../../dist/worker/engine-thread.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(built))) return built;
  throw new Error('dist/worker/engine-thread.js is missing: run `npm run build` first.');
}

interface Pending {
  resolve(result: RunResult): void;
  reject(error: Error): void;
  onProgress: ProgressListener | undefined;
}

/**
 * One long-lived `node:worker_threads` thread for the engine (started on first use, restarted after a crash),
 * so a job costs a message round trip rather than a thread start.
 */
export function createThreadEngineRunner(options: { busyTimeoutMs: number }): EngineRunner {
  let thread: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();

  const failAll = (error: Error) => {
    for (const entry of pending.values()) entry.reject(error);
    pending.clear();
  };

  const start = (): Worker => {
    const started = new Worker(engineThreadUrl());
    started.on('message', (reply: EngineReply) => {
      const entry = pending.get(reply.id);
      if (!entry) return;
      if (reply.type === 'progress') {
        try {
          entry.onProgress?.(reply.event);
        } catch {
          // A listener's failure must not lose the result.
        }
        return;
      }
      pending.delete(reply.id);
      entry.resolve(reply.result);
    });
    started.on('error', (error) => {
      if (thread === started) thread = undefined;
      failAll(new EngineThreadError(`The engine thread failed: ${error.message}`, { cause: error }));
    });
    started.on('exit', (code) => {
      if (thread === started) thread = undefined;
      failAll(new EngineThreadError(`The engine thread exited with code ${code}.`));
    });
    return started;
  };

  return {
    run(op, input, onProgress) {
      thread ??= start();
      const id = nextId++;
      const request: EngineRequest = { id, op, input, busyTimeoutMs: options.busyTimeoutMs };
      return new Promise<RunResult>((resolve, reject) => {
        pending.set(id, { resolve, reject, onProgress });
        thread?.postMessage(request);
      });
    },
    async close() {
      const running = thread;
      thread = undefined;
      if (running) await running.terminate();
    },
  };
}
