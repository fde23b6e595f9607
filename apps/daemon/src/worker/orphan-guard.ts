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
 * (cut-signal.ts) and to withdraw a chunk not started yet, which it answers
 * (withdraw-gate.ts): the messages of guard-messages.ts.
 *
 * The same thread watches for work a task left behind spinning (run-state.ts):
 * at each backstop tick it reads the main thread's CPU time and state from /proc,
 * and when the main thread, runnable, used over SPIN_SHARE of two ticks in a row while no
 * chunk's items ran and none began (once a chunk has run at all), it writes
 * GuardOp.leftover on the guard socket: the primary checks the worker's CPU for
 * itself and replaces the worker without blaming the chunks that wait on it
 * (supervisor.ts). Only Linux has /proc; elsewhere the check does nothing.
 *
 * node:worker_threads is loaded as the guard starts (with the first chunk or
 * before the initializer, always before any code of the user's), not at
 * import: it and what it pulls in cost ~2 ms of each worker's boot, on the
 * daemon's start path.
 */
import { GUARD_FD } from '../channel.js';
import { GUARD_MESSAGE_BYTES, GuardOp } from '../guard-messages.js';
import { startHelperThread } from '../helper-thread.js';
import { workerClass } from './process-marks.js';
import { CLOCK_MOD, cutRequests } from './cut-signal.js';
import { runState } from './run-state.js';
import { STARTED_RING, WITHDRAW_SLOTS, withdrawAnswer, withdrawGate } from './withdraw-gate.js';

const BACKSTOP_MS = 2_000;

/**
 * Share of a backstop tick the main thread must have used, with no chunk running and the thread
 * runnable (state R) as the tick reads it, for the tick to count towards a leftover spin. Two such
 * ticks in a row: a worker waiting for its next chunk sleeps (state S) and uses next to nothing, and
 * a collection of a large heap after a chunk is not still running 2 s later. Not most of a core, nor
 * even half: a spinning thread gets what the machine's load leaves it. An app whose items each left
 * a process.nextTick loop had all three workers of a 2-core daemon spin at once, each on two thirds
 * of a core or less, and at 90% none was ever replaced (a neighbour's submit waited out its 20 s);
 * under a loaded CI run, 40% was missed as well.
 */
const SPIN_SHARE = 0.1;

/** Linux's USER_HZ: the unit of a thread's CPU times in /proc (100 on every architecture Node runs on). */
const CLOCK_TICKS_PER_S = 100;

/** Starts the watchdog thread; it does not keep the process alive. */
export function startOrphanGuard(): void {
  const code = `
    const parent = ${process.ppid};
    const die = () => process.kill(${process.pid}, 'SIGKILL');
    const { workerData } = require('node:worker_threads');
    const cut = new Int32Array(workerData.cut);
    const run = new Int32Array(workerData.run);
    const gate = new BigInt64Array(workerData.withdraw);
    const reply = (op, key) => {
      const b = Buffer.alloc(${GUARD_MESSAGE_BYTES});
      b.writeInt32LE(op, 0);
      b.writeDoubleLE(key, 4);
      if (guard.writable) guard.write(b);
    };
    // The guard's half of withdraw-gate.ts.
    const withdrawAnswer = ${withdrawAnswer.toString()};
    let partial = Buffer.alloc(0);
    let guard;
    try {
      guard = new (require('node:net').Socket)({ fd: ${GUARD_FD}, readable: true, writable: true });
      guard.on('data', (d) => {
        const bytes = partial.length === 0 ? d : Buffer.concat([partial, d]);
        const whole = bytes.length - (bytes.length % ${GUARD_MESSAGE_BYTES});
        for (let at = 0; at < whole; at += ${GUARD_MESSAGE_BYTES}) {
          const op = bytes.readInt32LE(at);
          const key = bytes.readDoubleLE(at + 4);
          if (op === ${GuardOp.cut}) {
            Atomics.store(cut, 1, key | 0);
            Atomics.store(cut, 2, Date.now() % ${CLOCK_MOD});
            Atomics.add(cut, 0, 1);
          } else if (op === ${GuardOp.withdraw} && Number.isSafeInteger(key) && key > 0) {
            reply(withdrawAnswer(gate, key, ${STARTED_RING}, ${WITHDRAW_SLOTS}, [${GuardOp.withdrawn}, ${GuardOp.kept}, ${GuardOp.full}]), key);
          }
        }
        partial = Buffer.from(bytes.subarray(whole));
      });
      guard.on('end', die);
      guard.on('error', die);
    } catch {
      // No guard socket (started by hand, or a descriptor taken): the parent pid alone says.
    }
    // The main thread's user + system CPU, in clock ticks (-1 where /proc cannot tell), and whether it is runnable now.
    let runnable = false;
    const mainTicks = () => {
      try {
        const stat = require('node:fs').readFileSync('/proc/self/task/${process.pid}/stat', 'latin1');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        runnable = f[0] === 'R';
        return Number(f[11]) + Number(f[12]);
      } catch {
        runnable = false;
        return -1;
      }
    };
    let ticks = mainTicks();
    let begun = Atomics.load(run, 1);
    let strikes = 0;
    let told = false;
    setInterval(() => {
      let alive = true;
      try { process.kill(parent, 0); } catch { alive = false; }
      if (!alive || process.ppid !== parent) die();
      const nowTicks = mainTicks();
      const nowBegun = Atomics.load(run, 1);
      const spun = ticks >= 0 && runnable && nowTicks - ticks >= ${Math.round(SPIN_SHARE * (BACKSTOP_MS / 1000) * CLOCK_TICKS_PER_S)};
      strikes = spun && nowBegun > 0 && nowBegun === begun && Atomics.load(run, 0) === 0 ? strikes + 1 : 0;
      ticks = nowTicks;
      begun = nowBegun;
      if (strikes >= 2 && !told && guard !== undefined && guard.writable) {
        told = true;
        reply(${GuardOp.leftover}, 0);
      }
    }, ${BACKSTOP_MS});
  `;
  // Not the wrapper tasks get (process-marks.ts), which would count the guard as a thread a task left running.
  const Worker = workerClass();
  const thread = startHelperThread(
    () =>
      new Worker(code, {
        eval: true,
        workerData: { cut: cutRequests.buffer, run: runState.buffer, withdraw: withdrawGate.buffer },
        resourceLimits: { maxOldGenerationSizeMb: 8 },
      }),
  );
  thread.unref();
}
