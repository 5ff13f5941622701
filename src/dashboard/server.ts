import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { rolloutsQueueName } from '../fleet/rollout.js';
import { closeQueue } from '../queue/close-queue.js';
import { connectionOptionsFromUrl, reconnectDelayMs, redactRedisUrl } from '../queue/connection.js';
import { assertRedisNotRefusing, type RedisRefusedError } from '../queue/redis-check.js';
import { basicAuth, type DashboardCredentials, isLoopbackHost } from './auth.js';
import { mountBullBoard } from './bull-board.js';
import { DashboardError } from './errors.js';
import { DEFAULT_MAX_SCANNED_JOBS } from './fleet-data.js';
import { type PageContext, renderRollout, renderRolloutList, renderRolloutNotFound } from './fleet-page.js';
import { readFleetView } from './fleet-reports.js';
import { renderMetrics } from './metrics.js';
import { clientErrorStatusOf, isRedisUnavailable, RedisUnavailableError } from './request-errors.js';
import { assertAllowedHosts, requestGuard } from './request-guard.js';

export const DEFAULT_DASHBOARD_HOST = '127.0.0.1';
export const DEFAULT_DASHBOARD_PORT = 3000;
/** How long `/healthz` waits for Redis to answer PING before it reports it down. Default: 2000 ms. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;

/** What the log says, once per outage, when a request finds Redis away. */
export const REDIS_UNAVAILABLE_LOG = 'Redis is unavailable: the dashboard answers 503 until it is back';

/** How long a page waits for Redis before it answers 503. Default: 10000 ms. */
export const DEFAULT_REDIS_TIMEOUT_MS = 10_000;

export interface DashboardOptions {
  /** `redis://` or `rediss://` URL; its password is never logged or shown. */
  redisUrl: string;
  queueName: string;
  /** Default: 127.0.0.1. Anything but a loopback address requires `auth`. */
  host?: string;
  /** Default: 3000; 0 picks a free port (see `listen()`'s answer). */
  port?: number;
  /**
   * Host names (`name` or `name:port`) the dashboard also answers to, e.g. a reverse proxy's. A loopback
   * dashboard answers only to `localhost`, `127.0.0.1`, `[::1]` and its bound address, with its port; one bound
   * beyond loopback to any name unless this is set. Default: none.
   */
  allowedHosts?: string[];
  /** Basic-auth credentials; when set, every route but `/healthz` requires them. */
  auth?: DashboardCredentials;
  /** Hide bull-board's retry, remove, clean and add actions, and refuse them on its API. Default: false. */
  readOnly?: boolean;
  /** Most jobs the fleet page and `/metrics` read per request. Default: 20,000. */
  maxScannedJobs?: number;
  /** Seconds between reloads of a fleet page while a rollout runs. Default: 5. */
  refreshSeconds?: number;
  healthTimeoutMs?: number;
  /** How long the fleet page and `/metrics` wait for Redis before answering 503. Default: 10000 ms. */
  redisTimeoutMs?: number;
  logger?: Logger;
}

export interface DashboardServer {
  readonly app: Express;
  /**
   * Starts listening; resolves with the URL and the port actually bound. Refuses (`REDIS_REFUSED`, nothing
   * bound) when Redis answers but refuses the URL's database number: ioredis would show database 0 instead.
   */
  listen(): Promise<{ url: string; host: string; port: number }>;
  /** Stops the HTTP server and closes the Redis connection. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The dashboard: bull-board at `/queues`, rollouts at `/fleet` and `/fleet/:rolloutId`, Prometheus text at
 * `/metrics`, and `/healthz`. Refuses (`DASHBOARD_UNSAFE_BIND`) a non-loopback host without credentials.
 *
 * @example
 * const dashboard = createDashboardServer({ redisUrl: 'redis://127.0.0.1:6379', queueName: 'migrations' });
 * const { url } = await dashboard.listen();
 */
export function createDashboardServer(options: DashboardOptions): DashboardServer {
  const settings = {
    host: DEFAULT_DASHBOARD_HOST,
    port: DEFAULT_DASHBOARD_PORT,
    readOnly: false,
    maxScannedJobs: DEFAULT_MAX_SCANNED_JOBS,
    refreshSeconds: 5,
    healthTimeoutMs: DEFAULT_HEALTH_TIMEOUT_MS,
    redisTimeoutMs: DEFAULT_REDIS_TIMEOUT_MS,
    allowedHosts: [] as string[],
    ...stripUndefined(options),
  };
  // `[::1]` is how an IPv6 address is written in a URL; listen() takes it bare.
  settings.host = settings.host.replace(/^\[(.*)\]$/, '$1');
  assertOptions(settings);
  const { auth, logger } = settings;

  // Dashboard reads must fail (503) rather than hang while Redis is away: a retry per command, not forever; and
  // the pages must come back as soon as Redis does: reconnection attempts at most 2 s apart.
  const connection = {
    ...redisOptions(settings.redisUrl),
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelayMs,
  };
  // It shows the queue, it does not make it: a queue name given by mistake leaves no meta keys in Redis.
  const queue = new Queue(settings.queueName, { connection, skipMetasUpdate: true });
  // Rollouts started with `gao-migrate fleet` also live as one job each on `<queue>-rollouts`. Its connection is
  // opened with the first rollout page: a queue whose Redis never answered leaves rejections behind when closed.
  let rollouts: Queue | undefined;
  const rolloutsQueue = (): Queue => {
    if (!rollouts) {
      rollouts = new Queue(rolloutsQueueName(settings.queueName), { connection, skipMetasUpdate: true });
      rollouts.on('error', () => {
        // Reported once through the main queue's listener: both connections go down together.
      });
    }
    return rollouts;
  };
  let lastRedisError = '';
  queue.on('error', (error) => {
    // ioredis repeats the same error on every reconnect attempt: log each distinct one once.
    if (error.message === lastRedisError) return;
    lastRedisError = error.message;
    logger?.warn({ err: error.message, redis: redactRedisUrl(settings.redisUrl) }, 'Redis error');
  });

  // An outage is logged once, until a request finds Redis again: bull-board's page polls every few seconds, and
  // a line per request would bury the one that says what is wrong.
  let outageLogged = false;
  const redisAnswered = () => {
    outageLogged = false;
    lastRedisError = '';
  };
  const logRedisUnavailable = (err: string, path: string) => {
    if (outageLogged) return;
    outageLogged = true;
    logger?.error({ err, path }, REDIS_UNAVAILABLE_LOG);
  };
  // A request that was wrong (e.g. malformed JSON or %-escapes) is not the dashboard's failure: no error level.
  const logFailedRequest = (err: string, path: string, clientStatus: number | undefined) => {
    if (clientStatus === undefined) logger?.error({ err, path }, 'dashboard request failed');
    else logger?.info({ err, status: clientStatus, path }, 'dashboard refused a request');
  };

  const context: PageContext = {
    queueName: settings.queueName,
    readOnly: settings.readOnly,
    refreshSeconds: settings.refreshSeconds,
  };
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', async (_request, response) => {
    const up = await redisAnswers(queue, settings.healthTimeoutMs);
    if (up) redisAnswered();
    response.status(up ? 200 : 503).json({ ok: up, redis: up ? 'up' : 'down' });
  });

  // Before the credentials check: a rebound page should meet a refusal, not a password prompt.
  let listeningPort = settings.port;
  app.use(
    requestGuard({
      boundHost: settings.host,
      boundPort: () => listeningPort,
      allowedHosts: settings.allowedHosts,
    }),
  );
  if (auth) app.use(basicAuth(auth));

  app.get('/', (_request, response) => response.redirect(302, '/fleet'));

  const withRedis = <T>(work: Promise<T>) => withTimeout(work, settings.redisTimeoutMs);

  // Rollouts started with `gao-migrate fleet` are shown as `gao-migrate status` reports them, on every route.
  const readFleetOf = (rolloutId?: string) =>
    withRedis(readFleetView(queue, rolloutsQueue(), { maxJobs: settings.maxScannedJobs, rolloutId }));

  app.get('/fleet', async (_request, response) => {
    const snapshot = await readFleetOf();
    redisAnswered();
    sendPage(response, 200, renderRolloutList(snapshot, context));
  });

  app.get('/fleet/:rolloutId', async (request: Request<{ rolloutId: string }>, response) => {
    const { rolloutId } = request.params;
    const snapshot = await readFleetOf(rolloutId);
    redisAnswered();
    const rollout = snapshot.rollouts[0];
    if (!rollout) sendPage(response, 404, renderRolloutNotFound(rolloutId, context));
    else sendPage(response, 200, renderRollout(rollout, snapshot, context));
  });

  app.get('/metrics', async (_request, response) => {
    const snapshot = await readFleetOf();
    const body = await withRedis(renderMetrics(queue, snapshot));
    redisAnswered();
    response
      .status(200)
      .type('text/plain; version=0.0.4; charset=utf-8')
      .set('Cache-Control', 'no-store')
      .send(body);
  });

  mountBullBoard(app, {
    queue,
    readOnly: settings.readOnly,
    redisAnswers: () => redisAnswers(queue, settings.healthTimeoutMs),
    redisAnswered,
    logRedisUnavailable,
    logFailedRequest,
  });

  // Express 5 forwards rejected promises here: a Redis outage is a 503, anything else a 500; no stack to clients.
  app.use((error: unknown, request: Request, response: Response, _next: NextFunction) => {
    const message = error instanceof Error ? error.message : String(error);
    const clientStatus = clientErrorStatusOf(error);
    if (clientStatus !== undefined) {
      logFailedRequest(message, request.path, clientStatus);
      if (response.headersSent) return;
      response
        .status(clientStatus)
        .type('text/plain')
        .send(`${http.STATUS_CODES[clientStatus] ?? 'Bad request'}.\n`);
      return;
    }
    const unavailable = isRedisUnavailable(error);
    if (unavailable) logRedisUnavailable(message, request.path);
    else logFailedRequest(message, request.path, undefined);
    if (response.headersSent) return;
    response
      .status(unavailable ? 503 : 500)
      .type('text/plain')
      .send(unavailable ? 'Redis is unavailable.\n' : 'Internal error.\n');
  });

  const server = http.createServer(app);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (server.listening) {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await stopped;
      }
      await Promise.all(
        [queue, rollouts].map((opened) => opened && closeQueue(opened, settings.redisTimeoutMs)),
      );
    })();
    return closing;
  };

  return {
    app,
    listen: async () => {
      try {
        await assertRedisNotRefusing(
          settings.redisUrl,
          redisOptions(settings.redisUrl),
          settings.redisTimeoutMs,
        );
      } catch (error) {
        await Promise.all([queue, rollouts].map((opened) => opened && closeQueue(opened, 0)));
        const refusal = error as RedisRefusedError;
        throw new DashboardError(refusal.code, refusal.message, { cause: error });
      }
      return new Promise((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException) => {
          const failure = new DashboardError(
            'DASHBOARD_LISTEN_FAILED',
            `Cannot listen on ${settings.host}:${settings.port}: ${error.code ?? error.message}.`,
            { cause: error },
          );
          // The queue's Redis connection would keep the process alive with nothing served: close it first.
          void close().finally(() => reject(failure));
        };
        server.once('error', onError);
        server.listen(settings.port, settings.host, () => {
          server.removeListener('error', onError);
          const { port } = server.address() as AddressInfo;
          listeningPort = port;
          const shownHost = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
          resolve({ url: `http://${shownHost}:${port}`, host: settings.host, port });
        });
      });
    },
    close,
  };
}

function sendPage(response: Response, status: number, html: string): void {
  response
    .status(status)
    .type('html')
    .set({
      'Cache-Control': 'no-store',
      // No scripts at all on these pages: even a value that escaped escaping could not run.
      'Content-Security-Policy':
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    })
    .send(html);
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError()), timeoutMs);
  });
  // The abandoned work may still reject later: that must not become an unhandled rejection.
  work.catch(() => {});
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function redisAnswers(queue: Queue, timeoutMs: number): Promise<boolean> {
  // BullMQ types its client as an adapter interface; with a Redis URL it is an ioredis client.
  const ping = (async () => ((await queue.client) as unknown as Redis).ping())();
  return withTimeout(ping, timeoutMs).then(
    (answer) => answer === 'PONG',
    () => false,
  );
}

function assertOptions(
  settings: Required<Omit<DashboardOptions, 'auth' | 'logger'>> & DashboardOptions,
): void {
  if (typeof settings.redisUrl !== 'string' || settings.redisUrl.length === 0) {
    throw new DashboardError('DASHBOARD_INVALID_OPTION', 'The dashboard requires a Redis URL.');
  }
  if (!settings.queueName) {
    throw new DashboardError('DASHBOARD_INVALID_OPTION', 'The dashboard requires a queue name.');
  }
  if (!Number.isInteger(settings.port) || settings.port < 0 || settings.port > 65_535) {
    throw new DashboardError('DASHBOARD_INVALID_OPTION', `Port must be a whole number from 0 to 65535.`);
  }
  assertAllowedHosts(settings.allowedHosts);
  if (settings.auth && (!settings.auth.user || !settings.auth.password)) {
    throw new DashboardError(
      'DASHBOARD_INCOMPLETE_CREDENTIALS',
      'Dashboard credentials need both a user and a password.',
    );
  }
  if (settings.auth?.user.includes(':')) {
    // Basic auth sends `user:password` and splits it at the first colon: nobody could ever log in.
    throw new DashboardError(
      'DASHBOARD_INVALID_CREDENTIALS',
      'The dashboard user name cannot contain a colon (HTTP basic auth splits user and password at the first one); choose another GAO_MIGRATE_DASHBOARD_USER.',
    );
  }
  if (!settings.auth && !isLoopbackHost(settings.host)) {
    // listen() takes an empty host for every interface.
    const where = settings.host === '' ? 'every interface (an empty host)' : settings.host;
    throw new DashboardError(
      'DASHBOARD_UNSAFE_BIND',
      `Refusing to serve the dashboard on ${where} without credentials: set GAO_MIGRATE_DASHBOARD_USER and GAO_MIGRATE_DASHBOARD_PASSWORD, or bind 127.0.0.1.`,
    );
  }
}

/** A malformed REDIS_URL is the caller's mistake: say so with a code (the message is already redacted). */
function redisOptions(url: string) {
  try {
    return connectionOptionsFromUrl(url);
  } catch (error) {
    throw new DashboardError('DASHBOARD_INVALID_OPTION', (error as Error).message, { cause: error });
  }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}
