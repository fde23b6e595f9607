/**
 * What serves clients, gathered in one module: the primary imports it after
 * forking its workers (daemon.ts), while they boot. One dynamic import rather
 * than one per module, so that the bundle (scripts/bundle.mjs) loads it in a
 * few files rather than one per import.
 */
export { SharedState } from '../state/shared-state.js';
export { DaemonServer } from './server.js';
export { Telemetry } from './telemetry.js';
export { HttpRoutes } from './http/routes.js';
export { addDashboard } from './http/dashboard.js';
export { metricsRoute } from './http/metrics-route.js';
export { Scheduler } from './scheduler.js';
export { Reloader } from './reload.js';
export { ReplayTable, REPLY_SHARE } from './replay-table.js';
export { WorkerStateLink } from './worker-state-link.js';
export { LogThrottle } from './log-throttle.js';
export { turnPayer } from './session.js';
export { SendBudget, sendBudgetBytes } from './send-budget.js';
export { ReceiveBudget, receiveBudgetBytes } from './receive-budget.js';
