import { type Command, InvalidArgumentError } from 'commander';
import type { DashboardServer } from '../../dashboard/index.js';
import { redactRedisUrl, redisUrlFromEnv } from '../../queue/connection.js';
import { printable } from '../../queue/printable.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { redisConnectionOf, refuseRedisThatRefuses } from '../redis-connection.js';
import { queueNameOf } from './options.js';

interface DashboardCliOptions {
  host: string;
  port: number;
  readOnly?: boolean;
  queue?: string;
  allowedHost: string[];
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535)
    throw new InvalidArgumentError('Expected a port from 0 to 65535.');
  return port;
}

function parseHost(value: string): string {
  // An empty host is Node's "every interface": 0.0.0.0 or :: says that on purpose; an empty one is a slip.
  if (!value.trim())
    throw new InvalidArgumentError('Expected an address to bind, such as 127.0.0.1 or 0.0.0.0.');
  return value;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `gao-migrate dashboard`: serves bull-board, the fleet page, /metrics and /healthz until SIGINT or SIGTERM. */
export function registerDashboardCommand(program: Command, context: CliContext): void {
  program
    .command('dashboard')
    .description(
      'serve the queue dashboard (bull-board at /queues, rollouts at /fleet, /metrics, /healthz); loopback only unless GAO_MIGRATE_DASHBOARD_USER and GAO_MIGRATE_DASHBOARD_PASSWORD are set',
    )
    .option('--host <host>', 'address to bind', parseHost, '127.0.0.1')
    .option('--port <port>', 'port to bind (0: a free one)', parsePort, 3000)
    .option(
      '--allowed-host <host>',
      "another host name (name or name:port) to answer to, e.g. a reverse proxy's; repeatable; also GAO_MIGRATE_DASHBOARD_ALLOWED_HOSTS",
      collect,
      [],
    )
    .option('--read-only', 'hide and refuse retry, remove, clean and add in bull-board')
    .option('--queue <name>', 'queue to show (default: GAO_MIGRATE_QUEUE or "migrations")')
    .action((options: DashboardCliOptions) => runDashboard(options, context));
}

async function runDashboard(options: DashboardCliOptions, context: CliContext): Promise<void> {
  const redisUrl = redisUrlFromEnv();
  const queueName = queueNameOf(options.queue);
  // Also checked by listen(); checked first here so that the refusal is the only line, before any Redis error log.
  await refuseRedisThatRefuses(redisUrl, redisConnectionOf(redisUrl));
  // Loaded here, not at start-up: express and bull-board are for this command only.
  const { allowedHostsFromEnv, createDashboardServer, credentialsFromEnv, isDashboardError } = await import(
    '../../dashboard/index.js'
  );
  let dashboard: DashboardServer | undefined;
  let url: string;
  try {
    dashboard = createDashboardServer({
      redisUrl,
      queueName,
      host: options.host,
      port: options.port,
      auth: credentialsFromEnv(),
      allowedHosts: [...allowedHostsFromEnv(), ...options.allowedHost],
      readOnly: options.readOnly === true,
      logger: context.logger().child({ component: 'dashboard' }),
    });
    ({ url } = await dashboard.listen());
  } catch (error) {
    // Nothing is served now: an open Redis connection would keep the process alive, so close before exiting.
    await dashboard?.close();
    // Refusals carry a stable code; main.ts only knows the engine's and usage errors, so say it here.
    if (!isDashboardError(error)) throw error;
    process.stderr.write(`gao-migrate: ${printable(error.message)} (${error.code})\n`);
    context.setExitCode(ExitCode.FAILED);
    return;
  }
  const logger = context.logger();
  logger.info(
    {
      event: 'dashboard-listening',
      url,
      fleet: `${url}/fleet`,
      queue: queueName,
      redis: redactRedisUrl(redisUrl),
      readOnly: options.readOnly === true,
    },
    `Dashboard on ${url}/fleet (bull-board at ${url}/queues)`,
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      logger.info({ event: 'dashboard-stopping', signal }, 'Dashboard stopping');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await dashboard.close();
  context.setExitCode(ExitCode.OK);
}
