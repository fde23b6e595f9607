/**
 * Kills this worker when its primary is gone. A worker busy in a synchronous
 * loop never sees the IPC 'disconnect', so a thread that is never blocked by
 * the task SIGKILLs the whole process.
 *
 * The thread reads the guard socket (GUARD_FD, channel.ts), whose other end
 * only the primary holds and never writes: the kernel closes that end when
 * the primary dies, however it dies, and the thread wakes on end-of-file at
 * once. It sleeps otherwise: polling the parent pid 4 times a second woke each
 * busy worker's thread for nothing (2.8 ms of CPU a second per worker on a VM
 * whose wake-ups are costly, taken from the tasks of the other workers). A
 * task can close or replace the worker's descriptors, so the thread still
 * checks the parent pid every BACKSTOP_MS.
 *
 * The same thread hears the primary's requests to cut the running chunk short
 * (cut-signal.ts): keys of 4 bytes each, the only bytes the primary writes.
 *
 * node:worker_threads is loaded as the guard starts (with the first chunk or
 * before the initializer, always before any code of the user's), not at
 * import: it and what it pulls in cost ~2 ms of each worker's boot, on the
 * daemon's start path.
 */
import { CUT_REQUEST_BYTES, GUARD_FD } from '../channel.js';
import { startHelperThread } from '../helper-thread.js';
import { CLOCK_MOD, cutRequests } from './cut-signal.js';

/** Captured at load, before any code of the user's can replace it. */
const builtin = process.getBuiltinModule.bind(process);

const BACKSTOP_MS = 2_000;

/** Starts the watchdog thread; it does not keep the process alive. */
export function startOrphanGuard(): void {
  const code = `
    const parent = ${process.ppid};
    const die = () => process.kill(${process.pid}, 'SIGKILL');
    const cut = new Int32Array(require('node:worker_threads').workerData.cut);
    let partial = Buffer.alloc(0);
    try {
      const guard = new (require('node:net').Socket)({ fd: ${GUARD_FD}, readable: true, writable: false });
      guard.on('data', (d) => {
        // Requests that came together are one: the last one's key is spared.
        const bytes = partial.length === 0 ? d : Buffer.concat([partial, d]);
        const whole = bytes.length - (bytes.length % ${CUT_REQUEST_BYTES});
        if (whole > 0) {
          Atomics.store(cut, 1, bytes.readInt32LE(whole - ${CUT_REQUEST_BYTES}));
          Atomics.store(cut, 2, Date.now() % ${CLOCK_MOD});
          Atomics.add(cut, 0, 1);
        }
        partial = Buffer.from(bytes.subarray(whole));
      });
      guard.on('end', die);
      guard.on('error', die);
    } catch {
      // No guard socket (started by hand, or a descriptor taken): the parent pid alone says.
    }
    setInterval(() => {
      let alive = true;
      try { process.kill(parent, 0); } catch { alive = false; }
      if (!alive || process.ppid !== parent) die();
    }, ${BACKSTOP_MS});
  `;
  const { Worker } = builtin('node:worker_threads');
  const thread = startHelperThread(
    () => new Worker(code, { eval: true, workerData: { cut: cutRequests.buffer }, resourceLimits: { maxOldGenerationSizeMb: 8 } }),
  );
  thread.unref();
}
