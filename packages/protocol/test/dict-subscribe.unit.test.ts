/**
 * Dict.subscribe's reads (the baseline when it subscribes, the resync after a
 * reconnect) against pushes that pass them: a key pushed while a read was on
 * its way keeps what the push said, whatever the read's reply holds. The CI
 * once saw the baseline answered after three pushes: the subscriber took the
 * older entries for its own, and after the next reconnect reported a key
 * rewritten with the same value as changed and missed another's delete.
 */
import { describe, expect, it, vi } from 'vitest';
import { ListenerRegistry } from '../src/handles/listeners.js';
import { Dict } from '../src/handles/dict.js';
import type { StateTransport } from '../src/handles/transport.js';
import { encodeData } from '../src/codec.js';
import type { Push, StateRequest } from '../src/messages.js';

/** A transport whose `dict.entries` replies wait until the test answers them, in order. */
function heldEntries() {
  const entries: ((reply: [string, Uint8Array][]) => void)[] = [];
  const request = async (req: StateRequest): Promise<unknown> => {
    if (req.op === 'dict.entries') return new Promise((resolve) => entries.push(resolve));
    return true;
  };
  const registry = new ListenerRegistry(request);
  const transport = {
    request,
    listen: (kind: 'value' | 'dict', name: string, cb: (p: Push) => void, end?: (err: Error) => void, resync?: () => void) =>
      registry.listen(kind, name, cb, end, resync),
  } as unknown as StateTransport;
  const answer = (pairs: [string, unknown][]): void => entries.shift()!(pairs.map(([k, v]) => [k, encodeData(v)]));
  let version = 0;
  const push = (key: string, value?: unknown): void =>
    registry.deliver({
      type: 'push',
      kind: 'dict',
      name: 'd',
      key,
      version: ++version,
      ...(value === undefined ? { deleted: true } : { value: encodeData(value) }),
    });
  return { registry, transport, answer, push, waiting: () => entries.length };
}

/** A subscriber of dict 'd' over a held-entries transport, and what it heard ('k=v', or '-k' for a delete). */
function subscribed(): { t: ReturnType<typeof heldEntries>; events: string[] } {
  const t = heldEntries();
  const events: string[] = [];
  new Dict<number>(t.transport, 'd').subscribe((k, v, deleted) => events.push(deleted ? `-${k}` : `${k}=${v}`));
  return { t, events };
}

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('Dict.subscribe against pushes that pass its reads', () => {
  it('a baseline answered after pushes keeps what they said', async () => {
    const { t, events } = subscribed();
    await flush();
    expect(t.waiting()).toBe(1);
    t.push('seen', 2);
    t.push('gone', 3);
    t.push('same', 5);
    // The baseline's reply, read before those changes.
    t.answer([['pre', 1]]);
    await flush();
    expect(events).toEqual(['seen=2', 'gone=3', 'same=5']);

    // Changes while the link is down, then the reconnect's resync.
    t.registry.resubscribeAll();
    await flush();
    expect(t.waiting()).toBe(1);
    t.answer([
      ['pre', 1],
      ['seen', 20],
      ['same', 5],
      ['fresh', 4],
    ]);
    await flush();
    expect(events.slice(3).sort()).toEqual(['-gone', 'fresh=4', 'seen=20']);
  });

  it('a resync answered after pushes neither reports their keys again nor deletes them', async () => {
    const { t, events } = subscribed();
    await flush();
    t.answer([['a', 1]]);
    await flush();
    t.registry.resubscribeAll();
    await flush();
    // Pushed after the resync's read was sent: newer than its reply.
    t.push('a', 2);
    t.push('b', 3);
    t.answer([['a', 1]]);
    await flush();
    expect(events).toEqual(['a=2', 'b=3']);
    // The reads are done: a later resync compares against what the pushes said.
    t.registry.resubscribeAll();
    await flush();
    t.answer([['a', 2]]);
    await flush();
    expect(events).toEqual(['a=2', 'b=3', '-b']);
  });

  it('a baseline whose reply came only after a reconnect is reported, not taken silently', async () => {
    const { t, events } = subscribed();
    await flush();
    // The link drops before the baseline's reply: the read is sent again and the subscription resyncs.
    t.registry.resubscribeAll();
    await flush();
    // The read, answered on the new link: what changed while the link was down is in it.
    t.answer([['new', 1]]);
    await flush();
    expect(events).toEqual(['new=1']);
    // The resync's own read finds nothing more.
    t.answer([['new', 1]]);
    await flush();
    expect(events).toEqual(['new=1']);
  });

  it('a whole-dict delete pushed while a read is on its way outranks the reply', async () => {
    const { t, events } = subscribed();
    await flush();
    t.answer([['a', 1]]);
    await flush();
    t.push('b', 2);
    t.registry.resubscribeAll();
    await flush();
    t.registry.deliver({ type: 'push', kind: 'dict', name: 'd', version: 0, deleted: true });
    t.answer([
      ['a', 1],
      ['b', 2],
    ]);
    await flush();
    expect(events).toEqual(['b=2', '-a', '-b']);
  });
});

describe('Dict.subscribe with a callback that throws', () => {
  it('a clear reports every key the subscriber had, however many of its deletes throw', async () => {
    const t = heldEntries();
    const heard: string[] = [];
    new Dict<number>(t.transport, 'd').subscribe((k, _v, deleted) => {
      heard.push(deleted ? `-${k}` : k);
      if (deleted) throw new Error('a subscriber bug');
    });
    await flush();
    t.answer([]);
    await flush();
    t.push('a', 1);
    t.push('b', 2);
    t.push('c', 3);
    // Each throw is rethrown on a tick of its own (callUser): held here, not run.
    const rethrown: unknown[] = [];
    const spy = vi.spyOn(globalThis, 'setImmediate').mockImplementation(((fn: () => void) => {
      rethrown.push(fn);
      return 0;
    }) as unknown as typeof setImmediate);
    try {
      t.registry.deliver({ type: 'push', kind: 'dict', name: 'd', version: 0, deleted: true });
    } finally {
      spy.mockRestore();
    }
    expect(heard).toEqual(['a', 'b', 'c', '-a', '-b', '-c']);
    expect(rethrown).toHaveLength(3);
  });
});
