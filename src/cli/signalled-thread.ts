import { Worker } from 'node:worker_threads';

export type Signal = 'SIGINT' | 'SIGTERM';

export interface SignalledThreadOptions<Result> {
  /** What the thread is doing, for the messages: `up`, `restore`. */
  doing: string;
  /** How the file ends when the run is let finish: `as it was`, `either as it was or restored, never a mix`. */
  outcome: string;
  /** What a stop waits for: `the statement in hand`. */
  stopsAfter: string;
  /**
   * Called on the second signal: false when the thread may no longer be stopped (it is committing), which the
   * command then says; it finishes instead.
   */
  claimStop?: () => boolean;
  /** Each message from the thread; answers the run's result once it has one. */
  onMessage: (message: unknown) => Result | undefined;
}

/**
 * Runs a synchronous job (the engine, a restore) on a thread, so that this event loop answers SIGINT and SIGTERM
 * while it works. The first signal lets the run finish (stopped half-way it leaves a hot journal or temporary
 * copies the size of the database beside it) and says so at once; a second one stops the thread, unless
 * `claimStop` says it may no longer be stopped. Answers the result, or the signal that stopped it.
 */
export async function runSignalledThread<Result>(
  url: URL,
  workerData: unknown,
  options: SignalledThreadOptions<Result>,
): Promise<{ result: Result } | { stopped: Signal }> {
  const thread = new Worker(url, { workerData });
  let signalled: Signal | undefined;
  let stoppedBy: Signal | undefined;
  const say = (line: string) => process.stderr.write(`gao-migrate: ${line}\n`);
  const onSignal = (signal: Signal) => {
    if (!signalled) {
      signalled = signal;
      say(
        `Interrupted (${signal}) while ${options.doing} runs: it finishes first, so the database ends ${options.outcome}; a second signal stops it at once.`,
      );
    } else if (stoppedBy) {
      // Already stopping.
    } else if (options.claimStop && !options.claimStop()) {
      say(`${signal} ignored: ${options.doing} is committing, which takes a moment.`);
    } else {
      stoppedBy = signal;
      say(`Stopping (${signal}) as soon as ${options.stopsAfter} returns.`);
      void thread.terminate();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await new Promise((resolve, reject) => {
      thread.on('message', (message: unknown) => {
        const result = options.onMessage(message);
        if (result === undefined) return;
        // A thread stopped on its way to its end answers before it ends: stopped is what it was.
        resolve(stoppedBy ? { stopped: stoppedBy } : { result });
      });
      thread.once('error', reject);
      thread.once('exit', (code) => {
        if (stoppedBy) resolve({ stopped: stoppedBy });
        else reject(new Error(`The ${options.doing} thread exited with code ${code}.`));
      });
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
