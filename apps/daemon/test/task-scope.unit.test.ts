/**
 * task-scope.ts alone, over a fake IPC transport: what a task whose chunk was
 * aborted may still take. Its blocked gets are cancelled at the primary, later
 * gets and acquires fail at once, an item a get took before the cancel arrived
 * goes back to its queue, and a lock granted to it is released at once. A get
 * still pending when its task ends goes the same way.
 */
import { describe, expect, it } from 'vitest';
import type { StateRequest } from '@corepool/protocol/internal';
import { TaskScope } from '../src/worker/task-scope.js';
import type { IpcTransport } from '../src/worker/ipc-transport.js';

/** Requests held until the test answers them; what the scope sent besides. */
function fakeInner() {
  const sent: StateRequest[] = [];
  const answers: ((v: unknown) => void)[] = [];
  const log: string[] = [];
  const inner = {
    request(req: StateRequest): Promise<unknown> {
      sent.push(req);
      if (req.op === 'lock.release') {
        log.push(`release ${req.name} ${String(req.token)}`);
        return Promise.resolve(true);
      }
      return new Promise((resolve) => answers.push(resolve));
    },
    listen: () => () => {},
    cancelBlocked: (locks?: boolean) => log.push(locks === true ? 'cancel gets and acquires' : 'cancel gets'),
    giveBack: (name: string, value: Uint8Array) => log.push(`give back ${name} ${value.length}`),
  };
  return { inner: inner as unknown as IpcTransport, sent, answers, log };
}

const codeOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'resolved',
    (e: { code?: unknown }) => e.code,
  );

describe('TaskScope: a task whose chunk was aborted', () => {
  it('its blocked gets are cancelled at the primary; one answered before that gives its item back; new gets fail at once', async () => {
    const { inner, sent, answers, log } = fakeInner();
    const scope = new TaskScope(inner);
    scope.begin();
    const get = scope.request({ op: 'queue.get', name: 'jobs' });
    scope.abandon();
    scope.abandon(); // once per task
    expect(log).toEqual(['cancel gets']);
    // The item was handed out before the cancel reached the primary.
    answers[0]!(Uint8Array.of(1, 2, 3));
    expect(await codeOf(get)).toBe('E_CANCELLED');
    expect(log).toEqual(['cancel gets', 'give back jobs 3']);
    expect(await codeOf(scope.request({ op: 'queue.get', name: 'jobs' }))).toBe('E_CANCELLED');
    expect(await codeOf(scope.request({ op: 'lock.acquire', name: 'l' }))).toBe('E_CANCELLED');
    expect(sent).toHaveLength(1);
    // Puts and reads still go: only what it would take away from others is refused.
    void scope.request({ op: 'queue.put', name: 'jobs', a: Uint8Array.of(1) });
    expect(sent).toHaveLength(2);
    scope.end();
  });

  it('a lock granted to it is released at once; the next task takes items and locks as before', async () => {
    const { inner, answers, log } = fakeInner();
    const scope = new TaskScope(inner);
    scope.begin();
    const acquire = scope.request({ op: 'lock.acquire', name: 'l' });
    scope.abandon();
    // The grant crossed the cancel on its way: released as it arrives.
    answers[0]!({ token: 7 });
    expect(await codeOf(acquire)).toBe('E_CANCELLED');
    expect(log).toEqual(['cancel gets and acquires', 'release l 7']);
    scope.end();
    scope.begin();
    const get = scope.request({ op: 'queue.get', name: 'jobs' });
    answers[1]!(Uint8Array.of(9));
    expect(await get).toEqual(Uint8Array.of(9));
    const lock = scope.request({ op: 'lock.acquire', name: 'l' });
    answers[2]!({ token: 8 });
    expect(await lock).toEqual({ token: 8 });
    scope.end(); // the lock it forgot is released as the task ends
    expect(log).toEqual(['cancel gets and acquires', 'release l 7', 'release l 8']);
  });

  it('an abort with no task running (between items) cancels nothing', () => {
    const { inner, log } = fakeInner();
    const scope = new TaskScope(inner);
    scope.abandon();
    scope.begin();
    scope.end();
    scope.abandon();
    expect(log).toEqual([]);
  });
});

describe('TaskScope: a get still pending when its task ends', () => {
  it('is cancelled at the primary; an item it took after the end goes back; a get outside any task fails at once', async () => {
    const { inner, sent, answers, log } = fakeInner();
    const scope = new TaskScope(inner);
    scope.begin();
    const stray = scope.request({ op: 'queue.get', name: 'jobs' });
    scope.end();
    expect(log).toEqual(['cancel gets']);
    // The next task's own get is its own, whatever came back for the first.
    scope.begin();
    const own = scope.request({ op: 'queue.get', name: 'jobs' });
    answers[0]!(Uint8Array.of(1, 2));
    expect(await codeOf(stray)).toBe('E_CANCELLED');
    expect(log).toEqual(['cancel gets', 'give back jobs 2']);
    answers[1]!(Uint8Array.of(5));
    expect(await own).toEqual(Uint8Array.of(5));
    scope.end();
    // Nothing pending at this end: no cancel sent.
    expect(log).toEqual(['cancel gets', 'give back jobs 2']);
    expect(await codeOf(scope.request({ op: 'queue.get', name: 'jobs' }))).toBe('E_CANCELLED');
    expect(sent).toHaveLength(2);
  });

  it('a get that came back empty (its timeout) after its task ended gives nothing back', async () => {
    const { inner, answers, log } = fakeInner();
    const scope = new TaskScope(inner);
    scope.begin();
    const stray = scope.request({ op: 'queue.get', name: 'jobs', timeoutMs: 10 });
    scope.end();
    answers[0]!(undefined);
    expect(await codeOf(stray)).toBe('E_CANCELLED');
    expect(log).toEqual(['cancel gets']);
  });
});

describe('TaskScope: an acquire still pending when its task ends', () => {
  it('is cancelled at the primary with the gets; a grant that crossed the cancel is released; an acquire outside any task fails at once', async () => {
    const { inner, sent, answers, log } = fakeInner();
    const scope = new TaskScope(inner);
    scope.begin();
    const stray = scope.request({ op: 'lock.acquire', name: 'l' });
    scope.end();
    expect(log).toEqual(['cancel gets and acquires']);
    answers[0]!({ token: 3 });
    await codeOf(stray);
    expect(log).toEqual(['cancel gets and acquires', 'release l 3']);
    // Nothing pending at the next task's end: no cancel sent.
    scope.begin();
    const own = scope.request({ op: 'lock.acquire', name: 'm' });
    answers[1]!({ token: 4 });
    expect(await own).toEqual({ token: 4 });
    scope.end();
    expect(log).toEqual(['cancel gets and acquires', 'release l 3', 'release m 4']);
    const n = sent.length;
    expect(await codeOf(scope.request({ op: 'lock.acquire', name: 'l' }))).toBe('E_CANCELLED');
    expect(sent).toHaveLength(n);
  });
});

/** A task running over `inner` with one subscription open; the codes its onEnd heard. */
function listening(inner: IpcTransport): { scope: TaskScope; ends: string[] } {
  const scope = new TaskScope(inner);
  scope.begin();
  const ends: string[] = [];
  scope.listen(
    'value',
    'v',
    () => {},
    (err) => ends.push((err as { code?: string }).code ?? err.message),
  );
  return { scope, ends };
}

describe('TaskScope: subscriptions', () => {
  it("one the daemon refused ends once: the task's end does not end it again", () => {
    const { inner } = fakeInner();
    let refuse: ((err: Error) => void) | undefined;
    (inner as unknown as { listen: unknown }).listen = (_k: string, _n: string, _cb: unknown, end?: (err: Error) => void) => {
      refuse = end;
      return () => {};
    };
    const { scope, ends } = listening(inner);
    refuse!(Object.assign(new Error('too many'), { code: 'E_LIMIT' }));
    scope.end();
    expect(ends).toEqual(['E_LIMIT']);
  });

  it('one still open when its task ends ends then, with E_CANCELLED', () => {
    const { scope, ends } = listening(fakeInner().inner);
    scope.end();
    expect(ends).toEqual(['E_CANCELLED']);
  });
});
