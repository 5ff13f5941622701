import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { DashboardError } from './errors.js';

export interface DashboardCredentials {
  user: string;
  password: string;
}

/** Environment variables that carry the dashboard's basic-auth credentials. */
export const DASHBOARD_USER_ENV = 'GAO_MIGRATE_DASHBOARD_USER';
export const DASHBOARD_PASSWORD_ENV = 'GAO_MIGRATE_DASHBOARD_PASSWORD';

/**
 * Credentials from `GAO_MIGRATE_DASHBOARD_USER` and `GAO_MIGRATE_DASHBOARD_PASSWORD`; undefined when neither
 * is set. Only one of the two is a mistake, not "no auth": it throws.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): DashboardCredentials | undefined {
  const user = env[DASHBOARD_USER_ENV] ?? '';
  const password = env[DASHBOARD_PASSWORD_ENV] ?? '';
  if (!user && !password) return undefined;
  if (!user || !password) {
    throw new DashboardError(
      'DASHBOARD_INCOMPLETE_CREDENTIALS',
      `Set both ${DASHBOARD_USER_ENV} and ${DASHBOARD_PASSWORD_ENV}, or neither.`,
    );
  }
  return { user, password };
}

/**
 * True for addresses only this machine can reach: 127.0.0.0/8, ::1 (and its IPv4-mapped form) and `localhost`.
 * Any other name counts as reachable from outside: a host name may resolve anywhere.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host
    .trim()
    .replace(/^\[|\]$/g, '')
    .toLowerCase();
  if (bare === 'localhost') return true;
  const mapped = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  if (net.isIPv4(mapped)) return mapped.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

/** Constant-time equality for strings of any length: both sides are hashed to the same size first. */
function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** `user:password` from an `Authorization: Basic ...` header, or null. The password may contain colons. */
export function parseBasicAuth(header: string | undefined): DashboardCredentials | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Express middleware: 401 with a Basic challenge unless the request carries these credentials. */
export function basicAuth(credentials: DashboardCredentials) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const given = parseBasicAuth(request.headers.authorization);
    // Both comparisons always run, so the time taken does not tell which half was wrong.
    const userOk = safeEqual(given?.user ?? '', credentials.user);
    const passwordOk = safeEqual(given?.password ?? '', credentials.password);
    if (given && userOk && passwordOk) {
      next();
      return;
    }
    response
      .status(401)
      .set('WWW-Authenticate', 'Basic realm="gao-migrate dashboard", charset="UTF-8"')
      .type('text/plain')
      .send('Authentication required.\n');
  };
}
