/**
 * Kills this worker when its primary is gone. A worker busy in a synchronous
 * loop never sees the IPC 'disconnect', so a thread that is never blocked by
 * the task watches the parent pid and SIGKILLs the whole process.
 *
 * node:worker_threads is loaded as the guard starts (with the first chunk or
 * before the initializer, always before any code of the user's), not at
 * import: it and what it pulls in cost ~2 ms of each worker's boot, on the
 * daemon's start path.
 */
/** Captured at load, before any code of the user's can replace it. */
const builtin = process.getBuiltinModule.bind(process);

const WATCH_MS = 250;

/** Starts the watchdog thread; it does not keep the process alive. */
export function startOrphanGuard(): void {
  const code = `
    const parent = ${process.ppid};
    setInterval(() => {
      let alive = true;
      try { process.kill(parent, 0); } catch { alive = false; }
      if (!alive || process.ppid !== parent) process.kill(${process.pid}, 'SIGKILL');
    }, ${WATCH_MS});
  `;
  const { Worker } = builtin('node:worker_threads');
  const thread = new Worker(code, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 8 } });
  thread.unref();
}
