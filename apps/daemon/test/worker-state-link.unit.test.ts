/**
 * worker-state-link.ts alone, over a fake store and fake workers: requests
 * under the worker's owner name, replies back (or handed back to the store
 * when the worker cannot take them), pushes routed by owner, and the owner
 * released when its worker is gone; a task's requests and the pushes of its
 * writes charged to the connection whose chunk it runs, its worker paused
 * while that connection's share of the turn is spent.
 */
import { describe, expect, it } from 'vitest';
import {
  EncodedValue,
  ENVELOPE_ROOM,
  ErrorCode,
  LARGEST_MAX_PAYLOAD,
  SplitMessage,
  encodeMessageSplit,
  type Push,
  type StateRequest,
} from '@corepool/protocol/internal';
import type { PushMessage, StateReplyMessage } from '../src/ipc.js';
import type { TurnPayer } from '../src/primary/turn-share.js';
import { WorkerStateLink, type StateStore } from '../src/primary/worker-state-link.js';

/** A connection whose share the test spends and frees; `charged`: the ms charged to it. */
interface Payer extends TurnPayer {
  charged: number;
  isSpent: boolean;
}

const payer = (): Payer => {
  const p: Payer = {
    charged: 0,
    isSpent: false,
    charge: (ms) => {
      p.charged += ms;
    },
    spent: () => p.isSpent,
  };
  return p;
};

interface W {
  id: number;
  /** Exited, its every message handed on. */
  dead: boolean;
  /** Killed, not exited yet. */
  killed?: boolean;
  open: boolean;
  got: (StateReplyMessage | PushMessage)[];
  /** The connection whose chunk it runs. */
  payer?: Payer;
  /** pause and resume, as the link asked them. */
  flow: string[];
  /** Bytes sent it has not taken, as the test sets them. */
  unsent: number;
  /** Called once it has taken them (whenSent). */
  sent?: (() => void) | undefined;
}

const worker = (id: number): W => ({ id, dead: false, open: true, got: [], flow: [], unsent: 0 });
const REQ: StateRequest = { op: 'queue.get', name: 'jobs' };
const HIGH_WATER = 1024;
const PUSH: Push = { type: 'push', kind: 'value', name: 'v', version: 1, value: new Uint8Array() };

function setup(answer: (owner: string) => Promise<unknown>) {
  const log: string[] = [];
  const store: StateStore = {
    handle: (owner) => {
      log.push(`handle ${owner}`);
      return answer(owner);
    },
    undelivered: (req, value) => log.push(`undelivered ${req.name}${value instanceof Uint8Array ? ` ${value[0]}` : ''}`),
    undeliveredItems: (name, items) => log.push(`undelivered ${name} ${items.map(({ value }) => value[0]).join(',')}`),
    releaseOwner: (owner) => log.push(`release ${owner}`),
    cancelGets: (owner) => log.push(`cancel gets ${owner}`),
    cancelAcquires: (owner) => log.push(`cancel acquires ${owner}`),
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
      dead: (w) => w.dead || w.killed === true,
      exited: (w) => w.dead,
      payer: (w) => w.payer,
      pause: (w) => w.flow.push('pause'),
      resume: (w) => w.flow.push('resume'),
      unsent: (w) => w.unsent,
      whenSent: (w, fn) => {
        w.sent = fn;
      },
    },
    'w:',
    HIGH_WATER,
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

  it("a large listing's encoded bytes go as the reply's payload, written as they are, not copied into the message", async () => {
    const bytes = new Uint8Array(ENVELOPE_ROOM + 64 * 1024).fill(0x90);
    const { link } = setup(async () => new EncodedValue(bytes));
    const w = worker(1);
    link.request(w, { t: 'state', rid: 9, req: { op: 'dict.keys', name: 'wide' } });
    await settle();
    const reply = w.got[0] as StateReplyMessage;
    expect(Object.keys(reply).at(-1)).toBe('payload');
    // Packed as a field, a 300,000-key listing (4 MB) was copied into a fresh buffer, ~10 ms of the primary at once.
    const split = encodeMessageSplit(reply);
    expect(split).toBeInstanceOf(SplitMessage);
    expect((split as SplitMessage).tail.buffer).toBe(bytes.buffer);
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
    expect(log).toEqual(['handle w:1', 'handle w:2', 'undelivered jobs 1']);
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
    link.cancelBlocked(w);
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: Uint8Array.of(1) });
    // What a task could forge instead: no name, a bad one, no bytes, too many of them.
    link.giveBack(w, { t: 'state.return', name: '', value: Uint8Array.of(1) });
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: 'x' as unknown as Uint8Array });
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: new Uint8Array(0) });
    // Past any frame (a gigabyte is not allocated for the test: a Uint8Array in all but its bytes).
    const huge = Object.setPrototypeOf({ length: LARGEST_MAX_PAYLOAD + 1 }, Uint8Array.prototype) as Uint8Array;
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: huge });
    w.dead = true;
    link.cancelBlocked(w);
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: Uint8Array.of(1) });
    expect(log).toEqual(['cancel gets w:6', 'undelivered jobs 1']);
  });

  it('queue items a worker never read go back at its exit, after its owner is released, in order; those it acknowledged stay taken', async () => {
    let next = 0;
    const { link, log } = setup(async () => Uint8Array.of(++next));
    const w = worker(7);
    for (let rid = 1; rid <= 4; rid++) link.request(w, { t: 'state', rid, req: REQ });
    await settle();
    expect(w.got.map((m) => m.t === 'state.reply' && m.ack)).toEqual([true, true, true, true]);
    link.acked(w, 2);
    log.length = 0;
    // Killed: released now; what it has not acknowledged waits for its exit (an ack may still be in its channel).
    w.killed = true;
    link.killed(w);
    expect(log).toEqual(['release w:7']);
    link.acked(w, 3); // read from its channel as it exits
    w.dead = true;
    link.gone(w);
    // One list, in the order handed: 1 ends up first, then 4 (or, the queue empty, the oldest blocked get has 1).
    expect(log).toEqual(['release w:7', 'release w:7', 'undelivered jobs 1,4']);
    link.gone(w); // twice: nothing goes back twice
    expect(log.filter((l) => l.startsWith('undelivered'))).toHaveLength(1);
  });

  it('an item a killed worker gives back before its exit goes back once: it had acknowledged it', async () => {
    const { link, log } = setup(async () => Uint8Array.of(9));
    const w = worker(8);
    link.request(w, { t: 'state', rid: 1, req: REQ });
    await settle();
    w.killed = true;
    link.killed(w);
    link.acked(w, 1);
    link.giveBack(w, { t: 'state.return', name: 'jobs', value: Uint8Array.of(9) });
    w.dead = true;
    link.gone(w);
    expect(log.filter((l) => l.startsWith('undelivered'))).toEqual(['undelivered jobs 9']);
  });

  it("charges a task's requests, replies and pushes to its chunk's connection, and pauses the worker while that one's share is spent", async () => {
    const { link } = setup(async () => new Uint8Array(64 * 1024));
    const w = { ...worker(8), payer: payer() };
    link.ready(w);
    link.request(w, { t: 'state', rid: 1, req: { op: 'value.set', name: 'v', a: new Uint8Array(64 * 1024) } });
    await settle();
    // Its handling, 64 KiB at RECEIVED_BYTE_MS a byte (0.23 ms), and its reply's sending.
    expect(w.payer.charged).toBeGreaterThan(0.2);
    expect(w.flow).toEqual([]);
    const before = w.payer.charged;
    expect(link.charge('w:8', 3)).toBe(true); // its writes' pushes
    expect(w.payer.charged).toBe(before + 3);
    expect(link.charge('c:8', 3)).toBe(false); // a connection's own: the session's to charge
    // Spent: the worker's messages wait, turn after turn, until the share frees.
    w.payer.isSpent = true;
    link.request(w, { t: 'state', rid: 2, req: REQ });
    expect(w.flow).toEqual(['pause']);
    link.charge('w:8', 1);
    await settle();
    await settle();
    expect(w.flow).toEqual(['pause']);
    w.payer.isSpent = false;
    await settle();
    expect(w.flow).toEqual(['pause', 'resume']);
  });

  it('a worker whose chunk has no connection (none runs, or a lent one) is charged to nobody and never paused; a dead one is not resumed', async () => {
    const { link } = setup(async () => 1);
    const idle = worker(9);
    link.ready(idle);
    link.request(idle, { t: 'state', rid: 1, req: REQ });
    expect(link.charge('w:9', 50)).toBe(true);
    expect(idle.flow).toEqual([]);
    const dying = { ...worker(10), payer: payer() };
    dying.payer.isSpent = true;
    link.request(dying, { t: 'state', rid: 1, req: REQ });
    expect(dying.flow).toEqual(['pause']);
    dying.dead = true;
    link.gone(dying);
    dying.payer.isSpent = false;
    await settle();
    expect(dying.flow).toEqual(['pause']);
  });

  it('coalesces the pushes for a worker that stops reading, and sends them, in order, once it has read', () => {
    const { link } = setup(() => Promise.resolve(null));
    const w = worker(1);
    link.ready(w);
    const v = (name: string, version: number): Push => ({ ...PUSH, name, version });
    link.push('w:1', v('a', 1));
    w.unsent = HIGH_WATER + 1; // it stopped reading
    for (let n = 2; n <= 10_000; n++) link.push('w:1', v('a', n));
    link.push('w:1', v('b', 1));
    // Only the first went; the rest wait, latest per name.
    expect(w.got.map((m) => (m as PushMessage).push.version)).toEqual([1]);
    expect(w.sent).toBeDefined();
    w.unsent = 0;
    const sent = w.sent!;
    w.sent = undefined;
    sent();
    expect(w.got.map((m) => `${(m as PushMessage).push.name}${(m as PushMessage).push.version}`)).toEqual(['a1', 'a10000', 'b1']);
    // Nothing waits now: the next goes at once.
    link.push('w:1', v('a', 10_001));
    expect(w.got).toHaveLength(4);
    expect(w.sent).toBeUndefined();
  });

  it('drops the pushes waiting for a worker that is gone', () => {
    const { link } = setup(() => Promise.resolve(null));
    const w = worker(1);
    link.ready(w);
    w.unsent = HIGH_WATER + 1;
    link.push('w:1', PUSH);
    link.gone(w);
    w.unsent = 0;
    w.sent!();
    expect(w.got).toEqual([]);
  });

  it('defers the requests of a worker whose replies wait unsent, in order, its channel paused until it takes them', async () => {
    const { link, log } = setup(() => Promise.resolve(1));
    const w = worker(1);
    link.ready(w);
    w.unsent = HIGH_WATER + 1; // it stopped reading
    link.request(w, { t: 'state', rid: 1, req: REQ });
    link.request(w, { t: 'state', rid: 2, req: REQ });
    await settle();
    expect(log).toEqual([]);
    expect(w.flow).toEqual(['pause']);
    w.unsent = 0;
    w.sent!();
    await settle();
    expect(w.got.map((m) => (m as StateReplyMessage).rid)).toEqual([1, 2]);
    expect(w.flow).toEqual(['pause', 'resume']);
  });

  it('handles a burst a turn for one worker, the rest next turn, in order', async () => {
    const { link, log } = setup(() => Promise.resolve(1));
    const w = worker(1);
    link.ready(w);
    for (let rid = 1; rid <= 200; rid++) link.request(w, { t: 'state', rid, req: REQ });
    expect(log.length).toBeLessThan(200);
    expect(w.flow).toEqual(['pause']);
    for (let i = 0; i < 10 && w.got.length < 200; i++) await settle();
    expect(w.got.map((m) => (m as StateReplyMessage).rid)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(w.flow).toEqual(['pause', 'resume']);
  });
});
