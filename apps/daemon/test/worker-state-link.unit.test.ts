/**
 * worker-state-link.ts alone, over a fake store and fake workers: requests
 * under the worker's owner name, replies back (or handed back to the store
 * when the worker cannot take them), pushes routed by owner, and the owner
 * released when its worker is gone.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, LARGEST_MAX_PAYLOAD, type Push, type StateRequest } from '@corepool/protocol/internal';
import type { PushMessage, StateReplyMessage } from '../src/ipc.js';
import { WorkerStateLink, type StateStore } from '../src/primary/worker-state-link.js';

interface W {
  id: number;
  dead: boolean;
  open: boolean;
  got: (StateReplyMessage | PushMessage)[];
}

const worker = (id: number): W => ({ id, dead: false, open: true, got: [] });
const REQ: StateRequest = { op: 'queue.get', name: 'jobs' };
const PUSH: Push = { type: 'push', kind: 'value', name: 'v', version: 1, value: new Uint8Array() };

function setup(answer: (owner: string) => Promise<unknown>) {
  const log: string[] = [];
  const store: StateStore = {
    handle: (owner) => {
      log.push(`handle ${owner}`);
      return answer(owner);
    },
    undelivered: (req) => log.push(`undelivered ${req.name}`),
    releaseOwner: (owner) => log.push(`release ${owner}`),
    cancelGets: (owner) => log.push(`cancel gets ${owner}`),
  };
  const link = new WorkerStateLink<W>(
    store,
    {
      owner: (w) => `w:${w.id}`,
      send: (w, m) => {
        if (!w.open) return false;
        w.got.push(m);
        return true;
      },
      dead: (w) => w.dead,
    },
    'w:',
  );
  return { link, log };
}

/** Lets the store's promise settle. */
const settle = () => new Promise((r) => setImmediate(r));

describe('worker state link', () => {
  it("answers a request under the worker's owner name", async () => {
    const { link, log } = setup(async () => 42);
    const w = worker(3);
    link.request(w, { t: 'state', rid: 7, req: REQ });
    await settle();
    expect(log).toEqual(['handle w:3']);
    expect(w.got).toEqual([{ t: 'state.reply', rid: 7, ok: true, value: 42 }]);
  });

  it('a reply the worker cannot take goes back to the store; a failure is answered with its wire error', async () => {
    const { link, log } = setup(async (owner) => {
      if (owner === 'w:2') throw Object.assign(new Error('x'), { toWire: () => ({ code: ErrorCode.E_CANCELLED, message: 'gone' }) });
      return new Uint8Array([1]);
    });
    const closed = { ...worker(1), open: false };
    link.request(closed, { t: 'state', rid: 1, req: REQ });
    const failing = worker(2);
    link.request(failing, { t: 'state', rid: 2, req: REQ });
    await settle();
    expect(log).toEqual(['handle w:1', 'handle w:2', 'undelivered jobs']);
    expect(failing.got).toEqual([{ t: 'state.reply', rid: 2, ok: false, error: { code: ErrorCode.E_CANCELLED, message: 'gone' } }]);
  });

  it("a dead worker's last requests are not handled", async () => {
    const { link, log } = setup(async () => 1);
    link.request({ ...worker(1), dead: true }, { t: 'state', rid: 1, req: REQ });
    await settle();
    expect(log).toEqual([]);
  });

  it("pushes reach a ready worker by owner; a gone worker's owner is released and its pushes dropped; other owners are not its", () => {
    const { link, log } = setup(async () => 1);
    const w = worker(5);
    expect(link.push('w:5', PUSH)).toBe(true); // a worker's owner, not ready yet: nothing to deliver to
    link.ready(w);
    expect(link.push('w:5', PUSH)).toBe(true);
    expect(w.got).toEqual([{ t: 'push', push: PUSH }]);
    expect(link.push('c:5', PUSH)).toBe(false); // a client's, for the sessions
    link.gone(w);
    expect(log).toEqual(['release w:5']);
    expect(link.push('w:5', PUSH)).toBe(true);
    expect(w.got).toHaveLength(1);
  });

  it("a cancelled task's gets end at the store; an item it took goes back, within a put's bounds, and only from a live worker", () => {
    const { link, log } = setup(async () => 1);
    const w = worker(6);
    link.cancelGets(w);
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: Uint8Array.of(1) });
    // What a task could forge instead: no name, a bad one, no bytes, too many of them.
    link.giveBack(w, { t: 'state.return', name: '', value: Uint8Array.of(1) });
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: 'x' as unknown as Uint8Array });
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: new Uint8Array(0) });
    // Past any frame (a gigabyte is not allocated for the test: a Uint8Array in all but its bytes).
    const huge = Object.setPrototypeOf({ length: LARGEST_MAX_PAYLOAD + 1 }, Uint8Array.prototype) as Uint8Array;
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: huge });
    w.dead = true;
    link.cancelGets(w);
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: Uint8Array.of(1) });
    expect(log).toEqual(['cancel gets w:6', 'undelivered jobs']);
  });
});
