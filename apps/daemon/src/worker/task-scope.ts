/**
 * The shared-state transport as tasks see it: the worker's IPC transport, plus
 * the rule that what a task takes at the primary does not outlive the task.
 *
 * The rule: when a task (one call of the task function on one item) ends,
 * because it returned, threw, or settled after its chunk was aborted, every
 * lock it acquired and still holds is released, and every value or dict
 * subscription it opened and did not stop is dropped (a watch() loop or an
 * onEnd callback still waiting hears E_CANCELLED). At the primary all tasks of
 * a worker are one owner ("w:<id>"), so without this a lock taken by a task
 * that forgot to release it stayed held until the worker died, blocking every
 * other client. Releases go through the normal path, with the grant's fencing
 * token: the next holder gets a larger token, as after any release.
 *
 * A task is well defined because the runner calls one item at a time and
 * awaits it. An acquire still blocked when its task ends (one the task did not
 * await) fails with E_CANCELLED at the primary, as a get does: at the primary
 * every task of the worker is one owner with one quota of locks held or
 * awaited (10,000), so acquires that ended tasks left waiting on a lock held
 * for good filled it, and every other app's tasks on that worker were refused
 * any lock with E_LIMIT for as long as the lock stayed held. A lock granted
 * after its task ended (the grant crossed the cancel) is released as soon as
 * it arrives; an acquire asked for outside any task (a timer the task left
 * behind) fails at once, and such a subscription is dropped at once. A worker
 * that dies releases everything anyway (SharedState.releaseOwner).
 *
 * A queue get lives as long as its task too. A task that returned with a get
 * still blocked (raced against a timer, or not awaited) took the next item put,
 * for a caller that was gone: the item was lost to every app, and 50 such tasks
 * swallowed 50 of an honest app's next 60 items. So when a task ends with a get
 * pending, the worker's blocked gets fail with E_CANCELLED at the primary; an
 * item a get took after its task ended (put while the cancel was on its way)
 * goes back to the front of its queue; a get asked for outside any task fails
 * at once.
 *
 * Work a task leaves behind (a promise chain it did not await) that goes on
 * calling shared state once the task has ended is refused (E_CANCELLED) while
 * another app's item runs on the worker, or none does: at the primary every
 * request of the worker is charged to the app whose chunk runs there, so a
 * leftover loop of adds spent a neighbour's share, and a leftover get took the
 * neighbour's items for nobody. Left behind for a later item of its own app, it
 * goes on, charged to that app.
 *
 * A task whose chunk is aborted (its batch cancelled) may go on running until
 * it stops or its worker is killed after a grace, and what it takes then is
 * thrown away with it. So it takes no more queue items: its blocked gets fail
 * with E_CANCELLED at the primary as soon as the abort arrives, later ones at
 * once, and an item a get took in between (put while the abort was on its way)
 * goes back to the front of its queue; a lock granted to it is released at
 * once. An item put during the grace used to go to the cancelled task, lost.
 */
import { CancelledError, callUser, type Push, type StateRequest, type StateTransport } from '@corepool/protocol/internal';
import type { IpcTransport } from './ipc-transport.js';

function cancelled(): CancelledError {
  return new CancelledError('the task was cancelled (its batch was cancelled): it takes no more queue items or locks');
}

function leftBehind(): CancelledError {
  return new CancelledError(
    "a task's shared-state calls live as long as the task: this one came from work a task left behind after it ended (another app's item runs now, or none)",
  );
}

function ended(): CancelledError {
  return new CancelledError('the task that asked for this item has ended: a queue get lives as long as its task');
}

interface Subscription {
  stop(): void;
  end: ((err: Error) => void) | undefined;
}

/** What one task took at the primary and must give back when it ends: its locks and subscriptions. */
class TaskResources {
  /** False once the task has ended: a late grant is released at once. */
  open = true;
  /** Fencing token -> lock name, for locks granted and not released. */
  readonly locks = new Map<number, string>();
  readonly subscriptions = new Set<Subscription>();
}

/** The transport handed to tasks' shared-state handles; the runner brackets each item with begin/end. */
export class TaskScope implements StateTransport {
  readonly #inner: IpcTransport;
  #running = false;
  /** The task running (or last run): a count of tasks begun, so 1 or more (-1 below: no task runs). */
  #task = 0;
  /** The task whose chunk was aborted: it takes no queue item or lock any more (0: none). */
  #abandoned = 0;
  /** What the running task holds; made on its first lock or subscription, so most tasks cost nothing here. */
  #resources: TaskResources | undefined;
  /** Queue gets sent and not yet answered, of any task: one still pending when its task ends is cancelled. */
  #gets = 0;
  /** Lock acquires sent and not yet answered, of any task: the same. */
  #acquires = 0;

  /** True while the code running now was left behind by another app's task (or by any task, none running). */
  readonly #stray: () => boolean;

  constructor(inner: IpcTransport, stray: () => boolean = () => false) {
    this.#inner = inner;
    this.#stray = stray;
  }

  /** A task starts. */
  begin(): void {
    this.#task++;
    this.#running = true;
  }

  /** The running task's chunk was aborted: its blocked queue gets end at the primary now, and it takes nothing more. */
  abandon(): void {
    if (!this.#running || this.#abandoned === this.#task) return;
    this.#abandoned = this.#task;
    this.#inner.cancelBlocked(this.#acquires > 0);
  }

  /** The task has ended: give back what it still holds. */
  end(): void {
    this.#running = false;
    // Every get or acquire pending now is of this task or of one that ended before it.
    if (this.#gets > 0 || this.#acquires > 0) this.#inner.cancelBlocked(this.#acquires > 0);
    const resources = this.#resources;
    if (resources === undefined) return;
    this.#resources = undefined;
    resources.open = false;
    for (const [token, name] of resources.locks) this.#release(name, token);
    resources.locks.clear();
    const err = new CancelledError('the task that subscribed has ended');
    for (const s of resources.subscriptions) {
      s.stop();
      if (s.end !== undefined) callUser(s.end, err);
    }
    resources.subscriptions.clear();
  }

  request(req: StateRequest): Promise<unknown> {
    // Work a task left behind (a loop of adds it did not await) went on sending while another app's items ran
    // there: the primary charged every request to that app, and a get took that app's queue items for nobody.
    if (this.#stray()) return Promise.reject(leftBehind());
    if (req.op === 'queue.get') return this.#get(req);
    if (req.op === 'lock.acquire') return this.#acquire(req);
    // Forgotten when sent, so the end of the task does not release it a second time.
    if (req.op === 'lock.release' && req.token !== undefined) this.#resources?.locks.delete(req.token);
    return this.#inner.request(req);
  }

  listen(kind: 'value' | 'dict', name: string, cb: (push: Push) => void, end?: (err: Error) => void, resync?: () => void): () => void {
    if (!this.#running || this.#stray()) {
      if (end !== undefined)
        queueMicrotask(() =>
          callUser(end, new CancelledError('no task is running: a subscription lives as long as the task that opens it')),
        );
      return () => {};
    }
    const resources = this.#resourcesNow();
    const s: Subscription = { stop: () => {}, end };
    // Ended once: one the daemon refused (E_LIMIT, E_BAD_NAME) is the task's no more, so its end does not end it again.
    const ended =
      end === undefined
        ? undefined
        : (err: Error): void => {
            if (resources.subscriptions.delete(s)) end(err);
          };
    s.stop = this.#inner.listen(kind, name, cb, ended, resync);
    resources.subscriptions.add(s);
    return () => {
      if (resources.subscriptions.delete(s)) s.stop();
    };
  }

  async #get(req: StateRequest): Promise<unknown> {
    if (!this.#running) throw ended();
    const task = this.#task;
    if (task === this.#abandoned) throw cancelled();
    this.#gets++;
    let item: unknown;
    try {
      item = await this.#inner.request(req);
    } finally {
      this.#gets--;
    }
    const gone = task === this.#abandoned ? cancelled() : task !== this.#task || !this.#running ? ended() : undefined;
    if (gone === undefined) return item;
    // Taken after the abort or the task's end left for the primary and before its cancel arrived there: no one's.
    if (item instanceof Uint8Array) this.#inner.giveBack(req.name, item);
    throw gone;
  }

  async #acquire(req: StateRequest): Promise<unknown> {
    // Outside any task nobody could release it: refused at once, as a get is.
    if (!this.#running) throw new CancelledError('no task is running: a lock acquire lives as long as the task that asks');
    // The task that asks, not the one running when the grant comes back, owns the lock.
    const task = this.#task;
    if (task === this.#abandoned) throw cancelled();
    const resources = this.#resourcesNow();
    this.#acquires++;
    let grant: { token: number };
    try {
      grant = (await this.#inner.request(req)) as { token: number };
    } finally {
      this.#acquires--;
    }
    const abandoned = task === this.#abandoned;
    if (resources.open && !abandoned) resources.locks.set(grant.token, req.name);
    else this.#release(req.name, grant.token);
    if (abandoned) throw cancelled();
    return grant;
  }

  #resourcesNow(): TaskResources {
    this.#resources ??= new TaskResources();
    return this.#resources;
  }

  #release(name: string, token: number): void {
    // E_LOCK_NOT_HELD here only means the task's own release got there first.
    this.#inner.request({ op: 'lock.release', name, token }).catch(() => {});
  }
}
