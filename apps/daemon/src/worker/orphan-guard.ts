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
 * node:worker_threads is loaded as the guard starts (with the first chunk or
 * before the initializer, always before any code of the user's), not at
 * import: it and what it pulls in cost ~2 ms of each worker's boot, on the
 * daemon's start path.
 */
import { GUARD_FD } from '../channel.js';

/** Captured at load, before any code of the user's can replace it. */
const builtin = process.getBuiltinModule.bind(process);

const BACKSTOP_MS = 2_000;

/** Starts the watchdog thread; it does not keep the process alive. */
export function startOrphanGuard(): void {
  const code = `
    const parent = ${process.ppid};
    const die = () => process.kill(${process.pid}, 'SIGKILL');
    try {
      const guard = new (require('node:net').Socket)({ fd: ${GUARD_FD}, readable: true, writable: false });
      guard.on('data', () => {});
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
  const thread = new Worker(code, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 8 } });
  thread.unref();
}
