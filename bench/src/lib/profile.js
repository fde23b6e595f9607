// profile.js - `CP_BENCH_PROF=<dir>` runs the daemon (primary and workers) and
// every forked helper with --cpu-prof into <dir>, to find where a scenario's
// time goes (node refuses --cpu-prof in NODE_OPTIONS). Profiles are written
// when a process exits normally: the daemon is stopped with SIGTERM, helpers
// exit on their own.

/** Node flags for a process the bench starts: none unless CP_BENCH_PROF is set. */
export function profileArgs() {
  const dir = process.env.CP_BENCH_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}
