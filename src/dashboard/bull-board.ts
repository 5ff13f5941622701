import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { ControllerHandlerReturnType } from '@bull-board/api/dist/types.js';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Express } from 'express';
import { bullBoardSecurityHeaders, renderWithoutThirdPartyLinks } from './bull-board-page.js';
import { clientErrorStatusOf, isRedisUnavailable } from './request-errors.js';

/** Where bull-board is mounted. */
export const BULL_BOARD_PATH = '/queues';

/** What bull-board needs from the server it is mounted on: one Redis check, and the server's logging of failures. */
export interface BullBoardOptions {
  queue: Queue;
  /** Hide bull-board's retry, remove, clean and add actions, and refuse them on its API. */
  readOnly: boolean;
  /** Whether Redis answers a PING in time. */
  redisAnswers(): Promise<boolean>;
  /** A request found Redis answering: an outage logged before is over. */
  redisAnswered(): void;
  /** A request found Redis away (logged once per outage by the server). */
  logRedisUnavailable(err: string, path: string): void;
  /** A request failed otherwise; `clientStatus` is the 4xx of a bad request, undefined for the server's failure. */
  logFailedRequest(err: string, path: string, clientStatus: number | undefined): void;
}

/**
 * The answer bull-board's API gives while Redis is away, as its own error answers are shaped: the pages' 503.
 */
const REDIS_UNAVAILABLE_BODY = {
  error: { key: 'ERRORS.INTERNAL_SERVER_ERROR' },
  message: 'Redis is unavailable.',
};

/**
 * Mounts bull-board on `app` at `/queues` for one queue: a 503 while Redis is away, errors answered without a stack
 * and logged, its page without third-party links and under a CSP (see bull-board-page.ts).
 */
export function mountBullBoard(app: Express, options: BullBoardOptions): void {
  const board = new ExpressAdapter();
  board.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(options.queue, { readOnlyMode: options.readOnly })],
    // @bull-board/api and @bull-board/express are pinned to the same version: they share one declaration.
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'gao-migrate', miscLinks: [{ text: 'Rollouts', url: '/fleet' }] } },
  });
  // bull-board's API would wait for ever for a Redis that has not answered yet (BullMQ waits for its first
  // connection), and answers a lost one with a 500 in ioredis's words, logged nowhere: both get the pages' 503.
  app.use(`${BULL_BOARD_PATH}/api`, async (request, response, next) => {
    if (await options.redisAnswers()) {
      options.redisAnswered();
      next();
      return;
    }
    options.logRedisUnavailable('Redis did not answer in time', request.path);
    response.status(503).json(REDIS_UNAVAILABLE_BODY);
  });
  // Other failures get bull-board's own answer without the stack it adds when NODE_ENV is development (never to
  // a browser), and are logged as the other routes' are: bull-board logs nothing. Its handler sees no request.
  board.setErrorHandler((error) => {
    if (isRedisUnavailable(error)) {
      options.logRedisUnavailable(error.message, BULL_BOARD_PATH);
      return bullBoardAnswer(503, REDIS_UNAVAILABLE_BODY);
    }
    const clientStatus = clientErrorStatusOf(error);
    options.logFailedRequest(error.message, BULL_BOARD_PATH, clientStatus);
    return bullBoardAnswer(clientStatus ?? 500, {
      error: { key: 'ERRORS.INTERNAL_SERVER_ERROR' },
      message: error.message,
    });
  });
  // Its page links Google Fonts: dropped, and a CSP keeps the page to this origin (see bull-board-page.ts).
  const boardApp = board.getRouter() as Express;
  renderWithoutThirdPartyLinks(boardApp);
  app.use(BULL_BOARD_PATH, bullBoardSecurityHeaders, boardApp);
}

/**
 * An answer of bull-board's error handler. Its types list only the statuses its own handlers use (not 503 or
 * 413), and its translation keys; express sends any.
 */
function bullBoardAnswer(status: number, body: { error: { key: string }; message: string }) {
  return { status, body } as unknown as ControllerHandlerReturnType;
}
