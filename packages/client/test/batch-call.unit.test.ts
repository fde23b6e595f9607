/**
 * BatchCall against a fake host (no daemon, no socket), as ws tests its Receiver:
 * the client's chunk slots must balance whatever path a chunk takes.
 */
import { describe, expect, it } from 'vitest';
import type { ClientMessage } from '@corepool/protocol';
import { BatchCall, type BatchHost } from '../src/batch-call.js';

/** A host with `max` chunk slots that counts what batches take and give back. */
function fakeHost(max: number, maxPayload: number): BatchHost & { slots: number; sent: ClientMessage[] } {
  const host = {
    slots: 0,
    sent: [] as ClientMessage[],
    workers: 1,
    maxPayload,
    send(m: ClientMessage): boolean {
      host.sent.push(m);
      return true;
    },
    acquireSlot(_b: BatchCall, force?: boolean): boolean {
      if (host.slots >= max && force !== true) return false;
      host.slots++;
      return true;
    },
    releaseSlot(): void {
      host.slots--;
    },
    forget(): void {},
  };
  return host;
}

describe('BatchCall chunk slots', () => {
  it('a chunk split to fit the frame limit holds a slot per part: cancelled, the count returns to 0, never below', async () => {
    const host = fakeHost(1, 64);
    const ended: unknown[] = [];
    const items = Array.from({ length: 8 }, (_, i) => `item-${i}-${'x'.repeat(20)}`);
    const b = new BatchCall(
      host,
      1,
      { kind: 'source', hash: 'h', source: '(x) => x' },
      items,
      { timeoutMs: 0, retries: 0, chunkSize: 8, onProgress: undefined },
      {
        item: () => {},
        end: (e) => ended.push(e),
        wantsMore: () => true,
      },
    );
    b.pump();
    await new Promise((r) => setTimeout(r, 20));
    // Every part in flight holds a slot (the limit may be passed by the parts of one split chunk).
    const chunks = host.sent.filter((m) => m.type === 'batch.chunk' || m.type === 'batch.open').length;
    expect(chunks).toBeGreaterThan(1);
    expect(host.slots).toBe(chunks);
    b.cancel(new Error('stop'));
    expect(host.slots).toBe(0);
    expect(ended).toHaveLength(1);
  });
});
