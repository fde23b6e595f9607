/**
 * ListenerRegistry's resync: a push with `resync: true` (cluster mode: the
 * daemon could not prove it pushed every change) subscribes that name again,
 * as after a reconnect, and only that name; the handles forget the versions
 * they saw, so the current value is delivered even when versions started over.
 */
import { describe, expect, it } from 'vitest';
import { ListenerRegistry } from '../src/handles/listeners.js';
import { Value } from '../src/handles/value.js';
import type { StateTransport } from '../src/handles/transport.js';
import { encodeData } from '../src/codec.js';
import type { Push, StateRequest } from '../src/messages.js';

/** A transport whose daemon answers subscribes with the value `current` holds. */
function fakeTransport(current: { version: number; value: unknown }) {
  const sent: StateRequest[] = [];
  const registry = new ListenerRegistry(async (req) => {
    sent.push(req);
    if (req.op === 'value.subscribe') return { version: current.version, value: encodeData(current.value) };
    return true;
  });
  const transport = {
    request: async (req: StateRequest) => {
      sent.push(req);
      return true;
    },
    listen: (kind: 'value' | 'dict', name: string, cb: (p: Push) => void, end?: (err: Error) => void, resync?: () => void) =>
      registry.listen(kind, name, cb, end, resync),
  } as unknown as StateTransport;
  return { registry, transport, sent };
}

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('ListenerRegistry resync', () => {
  it('subscribes that name again and delivers the current value even at a lower version', async () => {
    const current = { version: 7, value: 'seven' as unknown };
    const { registry, transport, sent } = fakeTransport(current);
    const seen: [unknown, number][] = [];
    new Value<unknown>(transport, 'v').subscribe((v, version) => seen.push([v, version]));
    registry.listen('value', 'other', () => {});
    await flush();
    expect(seen).toEqual([['seven', 7]]);
    const before = sent.filter((r) => r.op === 'value.subscribe').length;

    // Redis lost its data: the value starts over at version 1.
    current.version = 1;
    current.value = 'fresh';
    registry.deliver({ type: 'push', kind: 'value', name: 'v', version: 0, resync: true });
    await flush();
    const subscribes = sent.filter((r) => r.op === 'value.subscribe');
    expect(subscribes.length).toBe(before + 1);
    expect(subscribes.at(-1)!.name).toBe('v');
    expect(seen).toEqual([
      ['seven', 7],
      ['fresh', 1],
    ]);
    // Later pushes go on from there.
    registry.deliver({ type: 'push', kind: 'value', name: 'v', version: 2, value: encodeData('two') });
    expect(seen.at(-1)).toEqual(['two', 2]);
  });

  it('a name holding a NUL is subscribed again under that name after a reconnect', async () => {
    const { registry, transport, sent } = fakeTransport({ version: 1, value: 'x' });
    new Value<unknown>(transport, 'a\0b').subscribe(() => {});
    await flush();
    registry.resubscribeAll();
    await flush();
    expect(sent.filter((r) => r.op === 'value.subscribe').map((r) => r.name)).toEqual(['a\0b', 'a\0b']);
  });
});
