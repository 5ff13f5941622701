/** Stable codes of the dashboard's refusals, for scripts and the CLI's `(CODE)` suffix. */
export type DashboardErrorCode =
  | 'DASHBOARD_UNSAFE_BIND'
  | 'DASHBOARD_INCOMPLETE_CREDENTIALS'
  | 'DASHBOARD_INVALID_CREDENTIALS'
  | 'DASHBOARD_INVALID_OPTION'
  | 'DASHBOARD_LISTEN_FAILED'
  | 'REDIS_REFUSED'
  | 'REDIS_TLS_UNTRUSTED';

export class DashboardError extends Error {
  readonly code: DashboardErrorCode;

  constructor(code: DashboardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DashboardError';
    this.code = code;
  }
}

export function isDashboardError(error: unknown): error is DashboardError {
  return error instanceof DashboardError;
}
