/**
 * fair-share.ts alone: the accounts and the choice of the next client, over
 * chunks described by hand (the daemon-level outcomes are in
 * fault-fairness.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { FairShare, KILLER_MEMORY_MS, type Placed, type Tenant } from '../src/primary/fair-share.js';

interface T extends Tenant {
  name: string;
}

function setup(): { fair: FairShare<T>; placed: Placed[]; a: T; b: T } {
  const placed: Placed[] = [];
  const fair = new FairShare<T>({
    heads: () => placed.filter((h) => h.headAt !== undefined),
    holds: (t) => placed.filter((h) => h.tenant === t).length,
  });
  const tenant = (name: string, weight = 1): T => ({ name, vtime: 0, weight, killedAt: -Infinity, restarting: 0 });
  return { fair, placed, a: tenant('a'), b: tenant('b') };
}

describe('fair share', () => {
  it('two fresh clients alternate: a chunk is charged when handed out, before it runs', () => {
    const { fair, a, b } = setup();
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const t = fair.pick([a, b], 1000, () => true)!;
      order.push(t.name);
      fair.charge({ tenant: t, headAt: undefined, charged: 0 }, 20);
    }
    expect(order.filter((n) => n === 'a')).toHaveLength(3);
    expect(order.filter((n) => n === 'b')).toHaveLength(3);
  });

  it("a cut chunk's rest keeps the charge of its unrun part (prepaid), taken off when the rest is placed: no refund in between", () => {
    const { fair, a } = setup();
    const chunk: Placed = { tenant: a, headAt: 0, charged: 0 };
    fair.charge(chunk, 500);
    fair.settle(chunk, 100); // cut after 100 ms: 400 refunded...
    const rest: Placed = { tenant: a, headAt: undefined, charged: 0 };
    fair.prepay(rest, 400); // ...and charged again for the rest, at once
    expect(a.vtime).toBe(500);
    fair.charge(rest, 400); // placed: nothing more, it was paid
    expect(a.vtime).toBe(500);
    fair.settle({ ...rest, headAt: 100 }, 520); // ran 420: charged what it took
    expect(a.vtime).toBe(520);
  });

  it("a cut chunk's rest dropped before it runs (its batch cancelled) gives its prepaid charge back", () => {
    const { fair, a } = setup();
    const chunk: Placed = { tenant: a, headAt: 0, charged: 0 };
    fair.charge(chunk, 500);
    fair.settle(chunk, 100);
    const rest: Placed = { tenant: a, headAt: undefined, charged: 0 };
    fair.prepay(rest, 400);
    expect(a.vtime).toBe(500);
    fair.refund(rest);
    expect(a.vtime).toBe(100); // what it took
    fair.refund(rest); // once
    expect(a.vtime).toBe(100);
  });

  it('a chunk given back unbegun (its worker held by something else) took nothing, however long it sat at the head', () => {
    const { fair, a } = setup();
    const chunk: Placed = { tenant: a, headAt: 0, charged: 0 };
    fair.charge(chunk, 20);
    expect(fair.settle(chunk, 260, false)).toBe(20); // all of it unused
    expect(a.vtime).toBe(0);
  });

  it('a client back from idle starts level with what the least active client has taken, not with what it was charged ahead', () => {
    const { fair, placed, a, b } = setup();
    const chunk: Placed = { tenant: a, headAt: 0, charged: 0 };
    placed.push(chunk);
    fair.charge(chunk, 500); // charged ahead when placed
    fair.enter(b, [a], 0);
    expect(b.vtime).toBe(0); // a has taken nothing yet
    expect(fair.owed(b, [a, b], 0)).toBe(true);
    fair.enter(b, [a], 300); // 300 ms into a's chunk: a has taken 300
    expect(b.vtime).toBe(300);
    fair.settle(chunk, 400); // left after 400 ms: a's account comes down to it
    placed.length = 0;
    expect(a.vtime).toBe(400);
    fair.enter(b, [a], 400);
    expect(b.vtime).toBe(400);
    expect(fair.owed(b, [a, b], 400)).toBe(true);
  });

  it("a client levelled while another was charged ahead is owed once that one's chunks end early: no ratchet over returns", () => {
    const { fair, placed, a, b } = setup();
    for (let round = 0; round < 5; round++) {
      const now = round * 100;
      const chunk: Placed = { tenant: a, headAt: now, charged: 0 };
      placed.push(chunk);
      fair.charge(chunk, 500); // a lone client's chunk, charged 500 ahead
      fair.enter(b, [a], now + 10); // b comes back (a submit) 10 ms in
      expect(fair.owed(b, [a, b], now + 10)).toBe(true);
      fair.settle(chunk, now + 100); // cut after 100 ms
      placed.length = 0;
    }
    expect(b.vtime).toBeLessThanOrEqual(a.vtime);
  });

  it('owed within a slack: a client with nothing running a fraction of a chunk above the others is still owed', () => {
    const { fair, a, b } = setup();
    a.vtime = 1000;
    b.vtime = 1200;
    expect(fair.owed(b, [a, b], 0)).toBe(false);
    expect(fair.owed(b, [a, b], 0, 500)).toBe(true);
    b.vtime = 1600;
    expect(fair.owed(b, [a, b], 0, 500)).toBe(false);
  });

  it('may pass only a waiting chunk of a client that does not stand below it (within the slack)', () => {
    const { fair, a, b } = setup();
    a.vtime = 500; // the rest of a's chunk, cut short for b, is prepaid: a stays charged for it
    b.vtime = 20;
    expect(fair.owed(a, [a], 0)).toBe(true); // b is in no queue: its chunks are all placed
    expect(fair.mayPass(a, b, 0)).toBe(false); // but a is not to go ahead of them
    expect(fair.mayPass(b, a, 0)).toBe(true);
    expect(fair.mayPass(a, a, 0)).toBe(true);
    expect(fair.mayPass(a, b, 0, 480)).toBe(true); // within a chunk's slack, as owed allows
    b.vtime = 500;
    expect(fair.mayPass(a, b, 0)).toBe(true); // level
  });

  it('weights: a client of weight 2 is picked twice as often as one of weight 1 for chunks of equal cost', () => {
    const { fair } = setup();
    const heavy: T = { name: 'heavy', vtime: 0, weight: 2, killedAt: -Infinity, restarting: 0 };
    const light: T = { name: 'light', vtime: 0, weight: 1, killedAt: -Infinity, restarting: 0 };
    const order: string[] = [];
    for (let i = 0; i < 30; i++) {
      const t = fair.pick([heavy, light], 1000, () => true)!;
      order.push(t.name);
      fair.charge({ tenant: t, headAt: undefined, charged: 0 }, 20);
    }
    expect(order.filter((n) => n === 'heavy')).toHaveLength(20);
    // Virtual time is worker time over weight: both are owed the same now.
    expect(heavy.vtime).toBe(light.vtime);
  });

  it('a client whose item killed a worker holds one worker at most until KILLER_MEMORY_MS has passed', () => {
    const { fair, a, b } = setup();
    fair.blame(a, 0, 1000);
    expect(a.restarting).toBe(1);
    // The other client is served even though it has used more worker time.
    b.vtime = a.vtime + 10_000;
    expect(fair.pick([a, b], 1001, () => true)).toBe(b);
    // Alone too: nothing for the killer while its restart is in flight.
    expect(fair.pick([a], 1001, () => true)).toBeUndefined();
    fair.ready(0, 1200);
    expect(a.restarting).toBe(0);
    expect(fair.pick([a], 1201, () => true)).toBe(a);
    expect(fair.owed(a, [a], 1000 + KILLER_MEMORY_MS + 1)).toBe(true);
  });

  it('newcomers killing workers one after another: newcomers together hold one worker for KILLER_MEMORY_MS after the last such kill', () => {
    const { fair, placed, a } = setup();
    const newcomer = (name: string): T => ({ name, vtime: 0, weight: 1, killedAt: -Infinity, restarting: 0, served: false });
    const [k1, k2, k3, k4] = [newcomer('k1'), newcomer('k2'), newcomer('k3'), newcomer('k4')];
    a.served = true;
    // One newcomer's kills, however many, hold back no other newcomer.
    fair.blame(k1, 0, 1000);
    fair.blame(k1, 0, 1100);
    fair.ready(0, 1200);
    expect(fair.pick([k3], 1300, () => true)).toBe(k3);
    // A second newcomer's kill within KILLER_MEMORY_MS: probation. Its restart counts as the one worker held.
    fair.blame(k2, 1, 2000);
    expect(fair.pick([a, k3], 2001, () => true)).toBe(a); // a client that has had a chunk run is not held back
    expect(fair.pick([k3], 2001, () => true)).toBeUndefined(); // nor kept waiting: it had work queued just now
    fair.ready(1, 2200);
    expect(fair.pick([k3, k4], 2201, () => true)).toBeDefined();
    const chunk: Placed = { tenant: k3, headAt: 2201, charged: 0 };
    placed.push(chunk);
    fair.charge(chunk, 20);
    expect(fair.pick([k4], 2202, () => true)).toBeUndefined(); // k3 holds the newcomers' worker
    k3.served = true; // its chunk ran to its end: no newcomer any more
    expect(fair.pick([k4], 2203, () => true)).toBe(k4);
    placed.length = 0;
    const k4chunk: Placed = { tenant: k4, headAt: 2204, charged: 0 };
    placed.push(k4chunk);
    fair.charge(k4chunk, 20);
    const k5 = newcomer('k5');
    expect(fair.pick([k5], 2205, () => true)).toBeUndefined();
    expect(fair.pick([k5], 2000 + KILLER_MEMORY_MS, () => true)).toBe(k5); // the memory of the last newcomer kill is over
  });

  it("newcomers' probation holds them back only while a client that has had a chunk run has work queued, not to leave workers idle", () => {
    const { fair, a } = setup();
    const newcomer = (name: string): T => ({ name, vtime: 0, weight: 1, killedAt: -Infinity, restarting: 0, served: false });
    const [k1, k2, k3] = [newcomer('k1'), newcomer('k2'), newcomer('k3')];
    a.served = true;
    fair.blame(k1, 0, 1000);
    fair.blame(k2, 1, 1100);
    // Nobody it protects about: a newcomer takes a worker the killers' restarts leave idle.
    expect(fair.pick([k3], 1200, () => true)).toBe(k3);
    // A client that has had a chunk run comes with work: newcomers are held back from then on,
    // between its chunks too (a submit at a time), for KILLER_MEMORY_MS after it last had work queued.
    expect(fair.pick([a, k3], 1300, () => true)).toBe(a);
    expect(fair.pick([k3], 1400, () => true)).toBeUndefined();
    fair.blame(k1, 0, 1300 + KILLER_MEMORY_MS - 100); // the attack goes on
    fair.blame(k2, 1, 1300 + KILLER_MEMORY_MS - 50);
    expect(fair.pick([k3], 1300 + KILLER_MEMORY_MS - 10, () => true)).toBeUndefined();
    expect(fair.pick([k3], 1300 + KILLER_MEMORY_MS + 10, () => true)).toBe(k3);
  });

  it('a slot removed for good (a shrinking pool) stops holding its killer back; its charge stands as estimated', () => {
    const { fair, a } = setup();
    fair.blame(a, 2, 1000);
    const charged = a.vtime;
    expect(fair.pick([a], 1001, () => true)).toBeUndefined(); // waits for the restart
    fair.slotRemoved(2);
    expect(a.restarting).toBe(0);
    expect([...fair.refilling()]).toEqual([]);
    expect(fair.pick([a], 1002, () => true)).toBe(a); // one worker again, as for any recent killer
    fair.ready(2, 1500); // a worker of that number later: nothing more to charge
    expect(a.vtime).toBe(charged);
  });

  it('a running chunk started at time 0 counts as running', () => {
    const { fair, placed, a, b } = setup();
    placed.push({ tenant: a, headAt: 0, charged: 20 });
    a.vtime = 20;
    b.vtime = 500;
    expect(fair.pick([a, b], 1000, () => true)).toBe(b); // 20 + 980 > 500
    fair.settle(placed[0]!, 1000);
    expect(a.vtime).toBe(1000);
  });

  it('a restart is charged twice the time from the exit to the replacement being ready', () => {
    const { fair, a } = setup();
    fair.blame(a, 3, 1000);
    const before = a.vtime;
    fair.ready(3, 1500);
    fair.ready(3, 9999); // once only
    expect(a.vtime).toBe(1000);
    expect(before).toBeGreaterThan(0);
  });

  it('a client back from idle starts at the least active virtual time; one whose chunks still run keeps its own', () => {
    const { fair, placed, a, b } = setup();
    a.vtime = 5000;
    b.vtime = 100;
    fair.enter(b, [a], 0);
    expect(b.vtime).toBe(5000); // no credit banked while idle
    const c: T = { name: 'c', vtime: 100, weight: 1, killedAt: -Infinity, restarting: 0 };
    placed.push({ tenant: c, headAt: 1, charged: 20 });
    fair.enter(c, [a], 2);
    expect(c.vtime).toBe(100); // it never left
  });

  it('a running chunk past its charge counts as it runs', () => {
    const { fair, placed, a, b } = setup();
    placed.push({ tenant: a, headAt: 1000, charged: 20 });
    a.vtime = 20;
    b.vtime = 500;
    expect(fair.pick([a, b], 1100, () => true)).toBe(a); // 100 ms in: 20 + 80 < 500
    expect(fair.pick([a, b], 2000, () => true)).toBe(b); // 1 s in: 20 + 980 > 500
    fair.settle(placed[0]!, 2000);
    expect(a.vtime).toBe(1000);
  });
});
