import { defineConfig } from 'vitest/config';
import { PAIRED_FILES, PARALLEL_FILES } from './test/parallel-files.js';

// Integration tests start real daemons with real workers on a 2-core machine, in three groups that
// run one after the other (sequence.groupOrder):
//
// - `parallel`, first, four files at a time: the unit tests (*.unit.test.ts: in-process, no
//   daemon) and the integration files listed in test/parallel-files.ts. Those mostly wait on
//   leases, restarts, kill -9, timeouts and Redis rather than compute: two at a time, the group
//   used 1.3 of 2 cores (367 CPU-s in 284 s, under /usr/bin/time); three, 1.67 (405 in 243 s);
//   four, 1.78 (357 in 201 s).
// - `paired`, then, two files at a time: files whose assertions read shares of worker time or
//   orderings in time, but whose workers sleep or wait, so each uses under one core (PAIRED_FILES
//   says how that was measured). 273 s of their tests in 139 s, the figures they print the
//   same as alone (weights 2.09-2.21 for 2:1, a capped client beside a newcomer 0.99-1.19 of alone).
// - `serial`, last, one file at a time: every other file. Their assertions read CPU share or
//   time (fairness, hostile and spinning neighbours, alone vs beside), memory peaks, or a browser,
//   and they keep the machine's two cores busy themselves; a neighbour would make them lie.
//
// Every group shares its processes between files (isolate: false): each file imported vitest and
// the SDK afresh, 61 s of the parallel group's 384 s on a 2-core CI machine; shared, 9 s of 336;
// the serial group's 57 files spent ~45 s between files and 16 s importing. Files restore what
// they change of the process (fake timers, process.env, the umask) and check other processes'
// memory, never their own (every memory bound reads a daemon's or a worker's /proc or heap).
//
// The lists name the parallel and paired files, not the serial ones, so that a new integration test
// runs alone until someone has read it for timing and shared resources and listed it: a forgotten file
// costs seconds, a wrongly parallel one costs a flaky CI. (Running the two old projects side by
// side in two vitest processes made a cross-daemon subscription test time out: that file is serial.)
// Node reads and parses the whole bundle NODE_EXTRA_CA_CERTS names at every process's boot (this
// kind of machine sets it to the system's 144 certificates): ~80 ms of CPU a process (`node -e 0`
// 0.11 CPU-s with it, 0.03 without), 0.23 CPU-s of a daemon's 0.88 (start, idle a second, graceful
// stop, two workers), and the suite starts 381 daemons besides their replaced workers, apps and
// CLI runs. Daemons, workers and apps here make no TLS connection (the one rediss:// case checks
// the URL's validation only), so the runner's processes, and every process they spawn, go without
// it; the one process that may need it, npm reaching the registry in package-install.test.ts,
// gets it back from COREPOOL_TEST_EXTRA_CA_CERTS.
if (process.env.NODE_EXTRA_CA_CERTS !== undefined) process.env.COREPOOL_TEST_EXTRA_CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
delete process.env.NODE_EXTRA_CA_CERTS;

const common = { testTimeout: 60_000, hookTimeout: 60_000 };
const unit = 'test/**/*.unit.test.ts';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...common,
          name: 'parallel',
          include: [unit, ...PARALLEL_FILES],
          maxWorkers: 4,
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...common,
          name: 'paired',
          include: [...PAIRED_FILES],
          maxWorkers: 2,
          isolate: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          ...common,
          name: 'serial',
          include: ['test/**/*.test.ts'],
          exclude: [unit, ...PARALLEL_FILES, ...PAIRED_FILES, '**/node_modules/**'],
          maxWorkers: 1,
          isolate: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
