import net from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { isLoopbackHost } from './auth.js';
import { DashboardError } from './errors.js';

/** Extra host names the dashboard answers to (a reverse proxy's), separated by commas. */
export const DASHBOARD_ALLOWED_HOSTS_ENV = 'GAO_MIGRATE_DASHBOARD_ALLOWED_HOSTS';

/** Names every loopback dashboard answers to, with the port it is bound to. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

interface HostAndPort {
  /** Lower case; an IPv6 address in brackets, as it appears in a `Host` header. */
  hostname: string;
  /** Undefined when the header names none (the scheme's default port). */
  port: number | undefined;
}

/** `example.com:3000`, `[::1]:3000`, `localhost`: the parts of a `Host` header value, or null when malformed. */
function parseHostHeader(value: string): HostAndPort | null {
  const match = /^(\[[0-9a-f:.]+\]|[^\s:/?#@[\]]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  if (!match?.[1]) return null;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && port > 65_535) return null;
  const hostname = match[1].toLowerCase();
  if (hostname.startsWith('[') && !net.isIPv6(hostname.slice(1, -1))) return null;
  return { hostname, port };
}

/**
 * Host names from `GAO_MIGRATE_DASHBOARD_ALLOWED_HOSTS` (comma-separated), for `allowedHosts`.
 *
 * @example allowedHostsFromEnv({ GAO_MIGRATE_DASHBOARD_ALLOWED_HOSTS: 'dash.example.com, dash:3000' })
 */
export function allowedHostsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env[DASHBOARD_ALLOWED_HOSTS_ENV] ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

/** Refuses (DASHBOARD_INVALID_OPTION) an allowed host that is not `name` or `name:port`. */
export function assertAllowedHosts(allowedHosts: readonly string[]): void {
  for (const entry of allowedHosts) {
    if (!parseHostHeader(entry)) {
      throw new DashboardError(
        'DASHBOARD_INVALID_OPTION',
        `Allowed host ${JSON.stringify(entry)} is not a host name or address with an optional :port (no scheme or path).`,
      );
    }
  }
}

export interface RequestGuardOptions {
  /** The address the dashboard is bound to. */
  boundHost: string;
  /** The port actually bound: known only once listening (port 0 picks one). */
  boundPort: () => number;
  /** Host names a reverse proxy sends; an entry without a port matches any port. */
  allowedHosts: readonly string[];
}

/**
 * Express middleware against DNS rebinding and cross-site writes.
 *
 * Host: a dashboard bound to loopback, or given allowed hosts, answers only to its own names (421 otherwise):
 * a page on attacker.example whose name is rebound to 127.0.0.1 is same-origin with the dashboard, but its
 * requests still say `Host: attacker.example`. A dashboard bound beyond loopback without allowed hosts accepts
 * any Host, since it is reached by names it cannot know; it has credentials there (the bind rule), which a
 * browser never sends to another origin.
 *
 * Origin: a request that can change something (anything but GET and HEAD) whose `Origin`, or lacking one its
 * `Referer`, names another host than the one requested is refused (403): another page's form or no-cors fetch
 * cannot reach bull-board's write API. Requests with neither header (curl, scripts) are not browsers' and pass.
 */
export function requestGuard(options: RequestGuardOptions) {
  const restrictHost = isLoopbackHost(options.boundHost) || options.allowedHosts.length > 0;
  const ownNames = new Set(LOOPBACK_NAMES);
  const bound = parseHostHeader(net.isIPv6(options.boundHost) ? `[${options.boundHost}]` : options.boundHost);
  if (bound && !isWildcard(bound.hostname)) ownNames.add(bound.hostname);
  const allowed = options.allowedHosts.flatMap((entry) => parseHostHeader(entry) ?? []);

  const hostAllowed = (header: string | undefined): boolean => {
    const host = header === undefined ? null : parseHostHeader(header);
    if (!host) return false;
    const port = host.port ?? 80;
    if (ownNames.has(host.hostname) && port === options.boundPort()) return true;
    return allowed.some(
      (entry) => entry.hostname === host.hostname && (entry.port === undefined || entry.port === host.port),
    );
  };

  return (request: Request, response: Response, next: NextFunction): void => {
    if (restrictHost && !hostAllowed(request.headers.host)) {
      response.status(421).type('text/plain').send('This dashboard does not answer to that host name.\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD' && isCrossSite(request)) {
      response.status(403).type('text/plain').send('Cross-site request refused.\n');
      return;
    }
    next();
  };
}

function isWildcard(hostname: string): boolean {
  return hostname === '0.0.0.0' || hostname === '[::]' || hostname === '';
}

/** True when the request's Origin (else Referer) is present and names another host than its Host header. */
function isCrossSite(request: Request): boolean {
  const source = request.headers.origin ?? request.headers.referer;
  if (source === undefined) return false;
  let sourceHost: string;
  try {
    // `Origin: null` (a sandboxed or file: page) does not parse: refused like any other stranger.
    sourceHost = new URL(source).host;
  } catch {
    return true;
  }
  // URL drops the scheme's default port; a Host header may still carry it.
  const requested = (request.headers.host ?? '').toLowerCase().replace(/:(80|443)$/, '');
  return sourceHost.toLowerCase() !== requested;
}
