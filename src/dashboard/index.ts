export {
  basicAuth,
  credentialsFromEnv,
  DASHBOARD_PASSWORD_ENV,
  DASHBOARD_USER_ENV,
  type DashboardCredentials,
  isLoopbackHost,
} from './auth.js';
export { BULL_BOARD_PATH } from './bull-board.js';
export { DashboardError, type DashboardErrorCode, isDashboardError } from './errors.js';
export { type FleetRow, type FleetSnapshot, type Rollout, readFleet } from './fleet-data.js';
export { escapeHtml } from './fleet-page.js';
export { renderMetrics } from './metrics.js';
export { allowedHostsFromEnv, DASHBOARD_ALLOWED_HOSTS_ENV } from './request-guard.js';
export {
  createDashboardServer,
  type DashboardOptions,
  type DashboardServer,
  DEFAULT_DASHBOARD_HOST,
  DEFAULT_DASHBOARD_PORT,
} from './server.js';
