/**
 * run-queue.ts - where a chunk the primary sends goes in the worker's queue.
 *
 * An urgent chunk (a newcomer's first, placed by the primary right behind the
 * chunk it takes to be running) runs before the chunks waiting here. After a
 * chunk of 10 ms or more the worker reads its socket before it starts the
 * next one it holds (runner.ts), and by then the primary may have heard that
 * chunk end and taken the next one to be running: an urgent chunk put first
 * would run before it, and the primary would time that one's first item from
 * its start while it waited, and aim cut requests at it. So an urgent chunk
 * names the chunk the primary took to be running (`after`): if the worker has
 * not started it, the urgent one goes right behind it, else first. If that
 * chunk has ended and another runs now, the urgent one runs after that other
 * one, which the primary took to be waiting: the runner tells it (BehindMessage).
 */
import type { RunMessage } from '../ipc.js';
import { ArrayPrototypePush, ArrayPrototypeUnshift, ObjectHasOwn } from './primordials.js';

/**
 * Puts `m` in `queue` (the chunks waiting, first to run first). Returns the `after` an urgent
 * chunk named when that chunk was not waiting here (it had begun or ended): `m` went first.
 */
export function queueRun(queue: RunMessage[], m: RunMessage): number | undefined {
  if (!m.urgent) {
    ArrayPrototypePush(queue, m);
    return undefined;
  }
  // Own properties only: a task may have put an `after` on Object.prototype.
  const after = ObjectHasOwn(m, 'after') ? m.after : undefined;
  if (after !== undefined) {
    // Indexed, never iterated, and no splice (it makes its result through Array[Symbol.species],
    // which a task may have replaced): the captured push grows the queue by one, then a shift up.
    for (let i = 0; i < queue.length; i++) {
      if (queue[i]!.key !== after) continue;
      ArrayPrototypePush(queue, m);
      for (let j = queue.length - 1; j > i + 1; j--) queue[j] = queue[j - 1]!;
      queue[i + 1] = m;
      return undefined;
    }
  }
  ArrayPrototypeUnshift(queue, m);
  return after;
}
