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
 * not started it, the urgent one goes right behind it, else first.
 */
import type { RunMessage } from '../ipc.js';
import { ArrayPrototypePush, ArrayPrototypeSplice, ArrayPrototypeUnshift } from './primordials.js';

/** Puts `m` in `queue` (the chunks waiting, first to run first). */
export function queueRun(queue: RunMessage[], m: RunMessage): void {
  if (!m.urgent) {
    ArrayPrototypePush(queue, m);
    return;
  }
  if (m.after !== undefined) {
    // Indexed, never iterated: a task may have replaced the array iterator (primordials.ts).
    for (let i = 0; i < queue.length; i++) {
      if (queue[i]!.key === m.after) {
        ArrayPrototypeSplice(queue, i + 1, 0, m);
        return;
      }
    }
  }
  ArrayPrototypeUnshift(queue, m);
}
