/**
 * The daemon's integration test files that may run beside three other files (the `parallel` project
 * of vitest.config.ts): each was read for what a neighbour would disturb and found to depend on
 * none of it. Their daemons mostly wait (leases, restarts, kill -9, timeouts, Redis round trips),
 * every assertion is an outcome (values, codes, counts, events, orderings within one daemon), a
 * bound in bytes, or a time bound far past what they measure (dashboard-state: a neighbour's
 * slowest add under 1 s beside a listing; 11-37 ms in three runs, with other files beside it in two),
 * never a share of the CPU, and everything they touch is their own: port 0 or a free port, a
 * temporary data dir, a redis-server of their own or a fresh cluster name on the machine's Redis,
 * tmux servers named by pid, pids found by their data dir.
 *
 * Not here, so one at a time: whatever measures CPU share or time (fairness, steering, work
 * stealing, deadlines, the hostile and faulty neighbours, ratios of alone vs beside), memory
 * bounds, the browser, and the cross-daemon subscription that fails now and then even alone.
 * A file not listed runs alone: add one only after reading it for the same things.
 */
export const PARALLEL_FILES: readonly string[] = [
  'test/admin-close.test.ts',
  'test/batch-open.test.ts',
  'test/cli-help.test.ts',
  'test/cli.test.ts',
  'test/client-lifecycle.test.ts',
  'test/coded-refusals.test.ts',
  'test/dashboard-state.test.ts',
  'test/deaf-workers.test.ts',
  'test/deep-data.test.ts',
  'test/deploy-files.test.ts',
  'test/detach-failure.test.ts',
  'test/dict-resync.test.ts',
  'test/dict.test.ts',
  'test/disk-full.test.ts',
  'test/durability.test.ts',
  'test/edges.test.ts',
  'test/failover.test.ts',
  'test/failures.test.ts',
  'test/fork-failure.test.ts',
  'test/graceful-stop.test.ts',
  'test/helper-thread.test.ts',
  'test/http-abort-log.test.ts',
  'test/imap-read-ahead.test.ts',
  'test/init.test.ts',
  'test/large-results.test.ts',
  'test/lock.test.ts',
  'test/logs.test.ts',
  'test/map.test.ts',
  'test/metrics.test.ts',
  'test/module-versions.test.ts',
  'test/options.test.ts',
  // npm pack, npm install and tsc: heavy on the CPU, but it asserts only what they produce.
  'test/package-install.test.ts',
  'test/queue.test.ts',
  'test/reconnect.test.ts',
  'test/reload.test.ts',
  'test/replay-acks.test.ts',
  'test/replay-restart.test.ts',
  'test/reply-flow.test.ts',
  'test/sdk-edges.test.ts',
  'test/security.test.ts',
  'test/slow-result-encode.test.ts',
  'test/source-resolution.test.ts',
  'test/start-lock.test.ts',
  'test/start-lock-race.test.ts',
  'test/state-cli.test.ts',
  'test/state-files.test.ts',
  'test/subscribe-first.test.ts',
  'test/task-scope.test.ts',
  'test/token-recipient.test.ts',
  'test/top.test.ts',
  'test/uninspectable-results.test.ts',
  'test/value.test.ts',
  'test/worker-channel.test.ts',
  'test/worker-children.test.ts',
  'test/worker-crash-gets.test.ts',
  'test/worker-output.test.ts',
  'test/worker-process-state.test.ts',
  'test/worker-stopped.test.ts',
  // The shared state on LMDB in the test's own process.
  'test/state/dict.test.ts',
  'test/state/disk-full.test.ts',
  'test/state/handles.test.ts',
  'test/state/lifecycle.test.ts',
  'test/state/limits.test.ts',
  'test/state/lock.test.ts',
  'test/state/queue.test.ts',
  'test/state/replay-log-large.test.ts',
  'test/state/replay-log.test.ts',
  'test/state/store.test.ts',
  'test/state/value.test.ts',
  // Clusters: each on a fresh cluster name or a redis-server of its own.
  'test/cluster/calls-across-stalls.test.ts',
  'test/cluster/cluster-limits.test.ts',
  'test/cluster/cluster-metrics.test.ts',
  'test/cluster/cluster-start.test.ts',
  'test/cluster/cotenants.test.ts',
  'test/cluster/held-trim.test.ts',
  'test/cluster/daemon-restart.test.ts',
  'test/cluster/dashboard-state.test.ts',
  'test/cluster/lend-ties.test.ts',
  'test/cluster/lender-killed.test.ts',
  'test/cluster/lending.test.ts',
  'test/cluster/lent-timeouts.test.ts',
  'test/cluster/membership.test.ts',
  'test/cluster/owner-killed.test.ts',
  'test/cluster/paused-daemon.test.ts',
  'test/cluster/redis-cut.test.ts',
  'test/cluster/redis-password.test.ts',
  'test/cluster/redis-preflight.test.ts',
  'test/cluster/quota-turnover.test.ts',
  'test/cluster/redis-restart.test.ts',
  'test/cluster/report-fencing.test.ts',
  'test/cluster/state-across-daemons.test.ts',
  'test/cluster/state-numbers.test.ts',
  'test/cluster/state-ops.test.ts',
  'test/cluster/state-pushes.test.ts',
  'test/cluster/state-redis-loss.test.ts',
  // A redis-server of its own; the flood is refused by its own daemon's count of what it sent.
  'test/cluster/state-room.test.ts',
  'test/cluster/state-replay.test.ts',
  'test/cluster/state-sdk.test.ts',
  // Outcomes only (every add once, in order); its times are figures.
  'test/cluster/unseen-values.test.ts',
];

/**
 * The daemon's integration files that may run beside one other file of this list (the `paired`
 * project, after the parallel group): their assertions read shares of worker time, orderings in
 * time or leases, so they do not go among four busy files, but their workers sleep
 * (`Atomics.wait` items), wait on leases, windows and heartbeats, or stop a daemon, and each used
 * under one of the two cores alone (the runner's and its daemons' CPU over the file's wall time,
 * sampled from /proc/stat in a run of the serial group: steering 0.38, unread-share 0.39,
 * lock-silent-link 0.08, the cluster shares 0.53-0.74, queue-items-back 0.59, isolation and
 * hostile-clients 0.85-0.95, a paused holder, a Redis sweep, the journal's and the metrics'
 * floods and a heap read after GC 0.92-1.25). Not lender-reclaim (0.94): paired, 8 of its 59
 * submits waited over 60 ms, one past its bound; alone 0-4 of 67-80. Two of them side by side stay under the two cores, and each ratio
 * they assert compares two apps of the same daemon under the same neighbour. The rest of the
 * serial files (floods, spinning neighbours, memory peaks, the browser) used 1.1-2.0 cores alone.
 */
export const PAIRED_FILES: readonly string[] = [
  'test/deadlines.test.ts',
  'test/hostile-clients.test.ts',
  'test/isolation.test.ts',
  'test/journal-flood.test.ts',
  'test/lock-silent-link.test.ts',
  'test/metrics-flood.test.ts',
  'test/queue-items-back.test.ts',
  'test/steering.test.ts',
  'test/stopped-holder.test.ts',
  'test/unread-share.test.ts',
  'test/verified-sources-bound.test.ts',
  'test/state/journal.test.ts',
  'test/cluster/cluster-fairness.test.ts',
  'test/cluster/cluster-weights.test.ts',
  'test/cluster/dead-member-share.test.ts',
  'test/cluster/inbox-gap.test.ts',
  'test/cluster/killed-chunks-charged.test.ts',
  'test/cluster/parked-sweep.test.ts',
  'test/cluster/starvation.test.ts',
];
