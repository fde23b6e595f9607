/**
 * Fault injection on the client side (docs/sharing.md's fault suite, rows 4-9): clients
 * that vanish mid-batch, stop reading, crowd the daemon, send malformed,
 * oversized or unauthenticated frames. Judged by checkers (nothing runs
 * unauthenticated, no item lost or duplicated, the daemon never exits, a fresh
 * connection works); timings and memory are reported as figures only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { connect, type Client } from '@corepool/client';
import { PROTOCOL_VERSION, decodeData, encodeData, encodeMessage, sourceHash } from '@corepool/protocol';
import { CLI, startDaemon, type TestDaemon } from './support/daemon.js';
import { startCutProxy } from './support/cut-proxy.js';
import type { RawSocket } from './support/raw-socket.js';
import { rawMap } from './support/raw-map.js';
import { checkSet } from './support/checks.js';
import { until } from './support/wait.js';
import { figure, percentile } from './support/figures.js';

const env = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);
// 5 s in CI (thousands of frames); `npm run soak` fuzzes for 10 minutes.
const FUZZ_MS = env('CP_FUZZ_MS', 5_000);
const PROTO_GUARD = fileURLToPath(new URL('./support/proto-guard.mjs', import.meta.url));
const MiB = 1024 * 1024;

let d: TestDaemon;
let good: Client;
let peakRss = 0;
let rssTimer: NodeJS.Timeout;
beforeAll(async () => {
  d = await startDaemon({ args: ['--auth-deadline-ms', '500'], nodeArgs: ['--import', PROTO_GUARD] });
  good = await d.connect();
  rssTimer = setInterval(() => (peakRss = Math.max(peakRss, d.rss())), 50);
});
afterAll(async () => {
  clearInterval(rssTimer);
  figure('hostile.peakDaemonRssMb', Math.round(peakRss / MiB));
  await d?.[Symbol.asyncDispose]();
});

/** Asks the primary's prototype guard; true if no built-in prototype changed. */
async function prototypesIntact(t: TestDaemon): Promise<boolean> {
  const n = t.events('proto-check').length;
  process.kill(t.pid, 'SIGUSR2');
  await until(() => t.events('proto-check').length > n, 5000, 'proto-check');
  return t.events('proto-polluted').length === 0 && t.events('proto-check').at(-1)!.ok === true;
}

const CLEAN = { lost: [], duplicated: [], unexpected: [], wrong: [] };

describe('row 4: a client disconnects mid-batch', () => {
  for (const how of ['socket.destroy() without a close frame', 'close 1000'] as const) {
    it(`${how}: its queued chunks are dropped, nothing stays queued for it, other clients keep running`, async () => {
      const rssBefore = d.rss();
      const sock = await d.raw({ hello: true });
      const slow = `(x) => { const end = performance.now() + 20; while (performance.now() < end) {} return x; }`;
      void rawMap(
        sock,
        slow,
        Array.from({ length: 1000 }, (_, i) => i),
        { chunkSize: 5, deadlineMs: 120_000 },
      ).catch(() => {});
      const other = good.map(
        (x: number) => x + 1,
        Array.from({ length: 2000 }, (_, i) => i),
      );
      let id = 0;
      await until(
        async () => {
          const c = (await d.status()).clients.find((x) => x.queuedChunks > 10 && x.name === '');
          id = c?.id ?? 0;
          return id !== 0;
        },
        10_000,
        'the batch queued',
      );
      const t0 = performance.now();
      if (how === 'close 1000') sock.ws.close(1000);
      else (sock.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
      await until(
        async () => {
          const s = await d.status();
          return !s.clients.some((c) => c.id === id) && s.queuedItems === 0;
        },
        10_000,
        'the dead client forgotten',
      );
      const detectMs = performance.now() - t0;
      // Its running chunks are abandoned (aborted between items, or their workers replaced).
      await until(async () => (await d.status()).runningItems === 0, 10_000, 'abandoned chunks gone');
      expect(await other).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
      const s = await d.status();
      expect(s.queuedItems).toBe(0);
      expect(s.clients.every((c) => c.queuedChunks === 0)).toBe(true);
      figure(`row4.${how.startsWith('socket') ? 'destroy' : 'close1000'}`, {
        detectMs: Math.round(detectMs),
        queuedChunksAfter: 0,
        rssDeltaMb: Math.round((d.rss() - rssBefore) / MiB),
      });
    });
  }
  it('an app whose link is cut while it writes small frames (the SDK writes those to the socket itself) reconnects with every add applied once; a neighbour mapping beside is exact', async () => {
    await using proxy = await startCutProxy(d.url);
    const app = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => {
      uncaught.push(err);
    };
    process.on('uncaughtException', onUncaught);
    try {
      const hits = app.value<number>('row4-cut-adds', { initial: 0 });
      await hits.get();
      const other = good.map(
        (x: number) => x * 3,
        Array.from({ length: 20_000 }, (_, i) => i),
      );
      const adds: Promise<number>[] = [];
      // A frame of 50 adds a turn, and the link cut twice while the frames keep coming: some are written
      // into a socket the cut is tearing down, the rest after the reconnect.
      for (let turn = 0; turn < 60; turn++) {
        for (let i = 0; i < 50; i++) adds.push(hits.add(1));
        if (turn === 20 || turn === 40) proxy.cut();
        await new Promise((r) => setImmediate(r));
      }
      const got = await Promise.all(adds);
      expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: adds.length }, (_, i) => i + 1));
      expect(await good.value<number>('row4-cut-adds').get()).toBe(adds.length);
      expect(await other).toEqual(Array.from({ length: 20_000 }, (_, i) => i * 3));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await app.close();
    }
  });
});

describe('row 5: a client that stops reading', () => {
  const HW = 256 * 1024;
  const CAP = 4 * MiB;
  let s: TestDaemon;
  let healthy: Client;
  beforeAll(async () => {
    s = await startDaemon({ args: ['--send-high-water', String(HW), '--send-hard-cap', String(CAP)] });
    healthy = await s.connect();
  });
  afterAll(async () => {
    await s?.[Symbol.asyncDispose]();
  });

  async function setLatencies(v: ReturnType<Client['value']>, from: number, n: number): Promise<number[]> {
    const pad = 'x'.repeat(16 * 1024);
    const lat: number[] = [];
    for (let k = from; k < from + n; k++) {
      const t0 = performance.now();
      await v.set(`${k}:${pad}`);
      lat.push(performance.now() - t0);
    }
    return lat;
  }

  it('Value pushes are coalesced (latest wins, never older after newer), bufferedAmount stays at the high-water mark', async () => {
    const v = healthy.value<string>('slow', { initial: '' });
    await v.get();
    const baseline = await setLatencies(v, 0, 200);
    const stalled = await s.raw({ hello: true });
    stalled.send({ type: 'state', rid: 1, op: 'value.subscribe', name: 'slow' });
    await stalled.next((m) => m.type === 'reply' && m.rid === 1);
    stalled.ws.pause();
    const n = env('CP_SLOW_PUSHES', 1500);
    const loaded = await setLatencies(v, 1000, n);
    const me = (await s.status()).clients.find((c) => c.name === '' && (c.maxSendBuffered ?? 0) > 0)!;
    expect(me).toBeDefined();
    // At most one push past the high-water mark (a push is 16 KiB plus a small envelope).
    expect(me.maxSendBuffered!).toBeLessThanOrEqual(HW + 17 * 1024);
    stalled.ws.resume();
    const last = `${1000 + n - 1}:`;
    await stalled.next((m) => m.type === 'push' && (decodeData(m.value as Uint8Array) as string).startsWith(last), 20_000);
    const pushes = stalled.messages.filter((m) => m.type === 'push');
    const versions = pushes.map((m) => m.version as number);
    for (let i = 1; i < versions.length; i++) expect(versions[i]!).toBeGreaterThan(versions[i - 1]!);
    const ks = pushes.map((m) => Number((decodeData(m.value as Uint8Array) as string).split(':')[0]));
    for (let i = 1; i < ks.length; i++) expect(ks[i]!).toBeGreaterThan(ks[i - 1]!);
    expect(pushes.length).toBeLessThan(n); // coalesced
    figure('row5.coalescing', {
      updates: n,
      pushesDelivered: pushes.length,
      maxBufferedKiB: Math.round(me.maxSendBuffered! / 1024),
      highWaterKiB: HW / 1024,
      healthySetP99Ms: { alone: +percentile(baseline, 99).toFixed(2), besideStalled: +percentile(loaded, 99).toFixed(2) },
    });
    stalled.ws.terminate();
  });

  it('results to a stalled client pause at the high-water mark; a healthy client is unaffected; nothing lost once it reads again', async () => {
    const stalled = await s.raw({ hello: true });
    const n = 300;
    const run = rawMap(
      stalled,
      `(x) => 'r'.repeat(65536) + x`,
      Array.from({ length: n }, (_, i) => i),
      { chunkSize: 1, deadlineMs: 120_000 },
    );
    stalled.ws.pause();
    await until(
      async () => (await s.status()).clients.some((c) => c.queuedChunks > 0 && (c.sendBuffered ?? 0) >= HW),
      20_000,
      'results paused',
    );
    expect(
      await healthy.map(
        (x: number) => x * 2,
        Array.from({ length: 5000 }, (_, i) => i),
      ),
    ).toEqual(Array.from({ length: 5000 }, (_, i) => i * 2));
    const me = (await s.status()).clients.find((c) => c.queuedChunks > 0)!;
    // Results already running when the mark was crossed still go out: 2 workers x pipeline depth 2.
    expect(me.maxSendBuffered!).toBeLessThanOrEqual(HW + 4 * (64 * 1024 + 512));
    figure('row5.resultsPaused', { maxBufferedKiB: Math.round(me.maxSendBuffered! / 1024), queuedChunksWhilePaused: me.queuedChunks });
    stalled.ws.resume();
    const outcomes = await run;
    expect(checkSet(n, outcomes, (i) => 'r'.repeat(65536) + i)).toEqual(CLEAN);
    stalled.ws.terminate();
  });

  it('a client flooding requests it never reads: its replies wait in the daemon, which stops reading it and writes nothing past the hard cap; cut off after --send-soft-cap-ms (1008 E_SLOW_CONSUMER)', async () => {
    await using t = await startDaemon({
      args: ['--send-high-water', String(HW), '--send-hard-cap', String(CAP), '--send-soft-cap-ms', '1000'],
    });
    const writer = await t.connect();
    await writer.value<string>('slow').set('x'.repeat(16 * 1024));
    const stalled = await t.raw({ hello: true });
    stalled.ws.pause();
    const t0 = performance.now();
    for (let rid = 1; rid <= 3000; rid++) stalled.send({ type: 'state', rid, op: 'value.get', name: 'slow' });
    await until(() => t.events('slow-consumer').length > 0, 60_000, 'cut off');
    const ev = t.events('slow-consumer')[0]!;
    expect(ev.why).toBe('time above high water');
    expect(ev.maxSendBuffered as number).toBeLessThanOrEqual(CAP);
    stalled.ws.resume();
    expect(await stalled.closed).toEqual({ code: 1008, reason: 'E_SLOW_CONSUMER' });
    figure('row5.floodCutOff', {
      cutOffMs: Math.round(performance.now() - t0),
      maxBufferedMiB: +((ev.maxSendBuffered as number) / MiB).toFixed(2),
      capMiB: CAP / MiB,
      waiting: ev.waiting,
    });
    expect(await writer.map((x: number) => x, [1, 2])).toEqual([1, 2]);
    expect((await writer.value<string>('slow').get()).length).toBe(16 * 1024);
  });

  it('a client above the high-water mark for --send-soft-cap-ms is cut off', async () => {
    await using t = await startDaemon({ args: ['--send-high-water', String(HW), '--send-soft-cap-ms', '1000'] });
    const writer = await t.connect();
    const v = writer.value<string>('slow', { initial: '' });
    await v.get();
    const stalled = await t.raw({ hello: true });
    stalled.send({ type: 'state', rid: 1, op: 'value.subscribe', name: 'slow' });
    await stalled.next((m) => m.type === 'reply' && m.rid === 1);
    stalled.ws.pause();
    const pad = 'x'.repeat(16 * 1024);
    for (let k = 0; t.events('slow-consumer').length === 0 && k < 100_000; k++) await v.set(`${k}:${pad}`);
    const ev = t.events('slow-consumer')[0]!;
    expect(ev.why).toBe('time above high water');
    expect(ev.aboveMs as number).toBeGreaterThanOrEqual(1000);
    stalled.ws.resume();
    expect(await stalled.closed).toEqual({ code: 1008, reason: 'E_SLOW_CONSUMER' });
    figure('row5.softCapCutOffMs', {
      aboveMs: ev.aboveMs,
      softCapMs: 1000,
      maxBufferedKiB: Math.round((ev.maxSendBuffered as number) / 1024),
    });
    expect(await v.get()).toMatch(/^\d+:/);
  });
});

describe('row 5c: results waiting for a client that stopped reading', () => {
  it('count against the send budget with its socket bytes: the client is cut off, a neighbour maps on', async () => {
    // Budget here: max(32 x 64 KiB, 2 x 256 KiB) = 2 MiB; no soft cap or heartbeat within the test.
    await using t = await startDaemon({
      args: [
        '--send-high-water',
        String(64 * 1024),
        '--send-hard-cap',
        String(256 * 1024),
        '--send-soft-cap-ms',
        '600000',
        '--heartbeat-ms',
        '600000',
      ],
    });
    const neighbour = await t.connect();
    const stalled = await t.raw({ hello: true });
    stalled.ws.pause();
    // 160 results of 100 KiB (one reply may carry 192 KiB here), 16 MiB: past the socket's mark they wait in the
    // scheduler, which before held them all (every chunk its workers had begun) without the budget seeing any.
    const items = Array.from({ length: 160 }, (_, i) => i);
    void rawMap(stalled, "(x) => 'x'.repeat(100 * 1024)", items, { chunkSize: 40, deadlineMs: 60_000 }).catch(() => {});
    await until(() => t.events('slow-consumer').length > 0, 20_000, 'the stalled client cut off');
    expect(t.events('slow-consumer')[0]).toMatchObject({ why: 'send budget' });
    stalled.ws.resume();
    // Its close frame may sit behind what it never read: closed either way.
    expect([1006, 1008]).toContain((await stalled.closed).code);
    expect(await neighbour.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
  });
});

describe('row 5b: many clients that stop reading, together', () => {
  it('what they hold together above the mark stays within the send budget: the stalest are cut off long before the soft cap; a reading subscriber and a writer are not', async () => {
    // Budget = max(32 x high water, 2 x hard cap) = 2 MiB here (send-budget.ts); 48 stalled subscribers at the mark would hold 3 MiB+.
    const hw = 64 * 1024;
    await using t = await startDaemon({
      args: ['--send-high-water', String(hw), '--send-hard-cap', String(256 * 1024), '--send-soft-cap-ms', '600000'],
    });
    const writer = await t.connect();
    const v = writer.value<string>('fan', { initial: '' });
    await v.get();
    const reader = await t.connect();
    let heard = 0;
    const stop = reader.value<string>('fan').subscribe(() => {
      heard++;
    });
    const stalled: RawSocket[] = [];
    for (let i = 0; i < 48; i++) {
      const r = await t.raw({ hello: true });
      r.send({ type: 'state', rid: 1, op: 'value.subscribe', name: 'fan' });
      await r.next((m) => m.type === 'reply' && m.rid === 1);
      r.ws.pause();
      stalled.push(r);
    }
    const pad = 'x'.repeat(96 * 1024); // under what one reply may carry back here (128 KiB)
    let most = 0;
    // A client over the mark is cut off only once it has taken nothing for a second (send-budget.ts, STALE_MS).
    const deadline = Date.now() + 8_000;
    for (let k = 0; Date.now() < deadline && t.events('slow-consumer').length < 24; k++) {
      await v.set(`${k}:${pad}`);
      if (k % 20 === 0) {
        const held = (await t.status()).clients.reduce((sum, c) => sum + (c.sendBuffered ?? 0), 0);
        most = Math.max(most, held);
      }
    }
    const cuts = t.events('slow-consumer');
    expect(cuts.length).toBeGreaterThan(0);
    expect(cuts.every((e) => e.why === 'send budget')).toBe(true);
    // Within the budget, give or take one push per client at the moment of each check.
    expect(most).toBeLessThanOrEqual(2 * MiB + 48 * (hw + 100 * 1024));
    for (const r of stalled) r.ws.resume();
    // Each one cut is closed: with 1008 E_SLOW_CONSUMER if it read the close frame within the close's 1 s grace,
    // else terminated (1006); the others are served.
    const ends = await Promise.all(stalled.map((r) => Promise.race([r.closed, new Promise((res) => setTimeout(() => res('open'), 3000))])));
    expect(ends.filter((e) => e !== 'open').length).toBeGreaterThanOrEqual(cuts.length);
    for (const e of ends) if (e !== 'open') expect([1006, 1008]).toContain((e as { code: number }).code);
    // The subscriber that reads heard the writes, and both it and the writer are still served.
    await until(async () => heard > 0, 10_000, 'the reading subscriber heard a push');
    expect(await writer.map((x: number) => x + 1, [1])).toEqual([2]);
    expect((await reader.value<string>('fan').get()).length).toBeGreaterThan(96 * 1024);
    stop();
    figure('row5b.sendBudget', { stalledClients: 48, cutOff: cuts.length, mostHeldKiB: Math.round(most / 1024), budgetKiB: 2048 });
    for (const r of stalled) r.ws.terminate();
  }, 120_000);
});

describe('row 6: connection limits', () => {
  it('--max-clients 5: the next connection gets 1013 E_TOO_MANY_CLIENTS; unauthenticated ones close at the deadline; the active client works', async () => {
    await using t = await startDaemon({ args: ['--max-clients', '5', '--auth-deadline-ms', '300'] });
    const active = await t.connect();
    const idle: RawSocket[] = [];
    for (let i = 0; i < 4; i++) idle.push(await t.raw({ hello: true }));
    const over = await t.raw();
    expect(await over.closed).toEqual({ code: 1013, reason: 'E_TOO_MANY_CLIENTS' });
    expect(over.messages[0]).toMatchObject({ type: 'error', error: { code: 'E_TOO_MANY_CLIENTS' } });
    expect(await active.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    // Free two slots; connections that never authenticate are closed at the deadline.
    idle.pop()!.ws.close();
    idle.pop()!.ws.close();
    await until(async () => (await active.status()).clients.length === 3, 5000, 'slots freed');
    const silent = [await t.raw(), await t.raw()];
    for (const s of silent) expect(await s.closed).toMatchObject({ code: 1008 });
    expect(silent[0]!.messages[0]).toMatchObject({ type: 'error', error: { code: 'E_AUTH' } });
    expect((await t.raw({ hello: true })).ws.readyState).toBe(1);
    expect(await active.value<number>('n', { initial: 0 }).add(1)).toBe(1);
  });

  it('a flood of status requests: 256 wait for the next status, the rest get E_FLOW_CONTROL at once; another client is answered', async () => {
    const flood = await d.raw({ hello: true });
    // A frame of 4,000 requests, twice: each used to wait, and be answered with a copy of the whole status.
    for (const base of [0, 4000]) flood.send(Array.from({ length: 4000 }, (_, i) => ({ type: 'status', rid: base + i + 1 })));
    await flood.next((m) => m.type === 'reply' && m.rid === 8000);
    await until(() => flood.messages.filter((m) => m.type === 'reply').length === 8000, 10_000, 'every request answered');
    const replies = flood.messages.filter((m) => m.type === 'reply');
    const ok = replies.filter((m) => m.ok === true);
    expect(ok.length).toBeGreaterThan(0);
    // 256 a connection may have waiting: past that, refused until some are answered.
    expect(ok.length).toBeLessThan(replies.length);
    expect(replies.filter((m) => m.ok === false).every((m) => (m.error as { code: string }).code === 'E_FLOW_CONTROL')).toBe(true);
    expect((await good.status()).clients.length).toBeGreaterThan(0);
    // Once answered, the connection asks again as any other.
    flood.send({ type: 'status', rid: 9001 });
    expect(await flood.next((m) => m.rid === 9001)).toMatchObject({ ok: true });
    flood.ws.close();
  });
});

describe('row 7: malformed frames', () => {
  const records = new Packr({ useRecords: true });
  const clone = new Packr({ structuredClone: true, moreTypes: true });
  const cyclic: Record<string, unknown> = { type: 'status', rid: 1 };
  cyclic.self = cyclic;
  const nested = Buffer.concat([Buffer.alloc(200_000, 0x91), Buffer.from([0xc0])]);
  const valid = encodeMessage({ type: 'status', rid: 1 });
  /** [name, frame, valid-shaped? (a reply is then acceptable)] */
  const corpus: [string, Uint8Array | string, boolean][] = [
    ['empty', Buffer.alloc(0), false],
    ['truncated', valid.subarray(0, valid.length - 2), false],
    ['trailing bytes', Buffer.concat([valid, Buffer.from([0x00, 0x01])]), false],
    ['200k nesting', nested, false],
    ['array32 2^32-1 header', Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), false],
    ['map32 2^32-1 header', Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), false],
    ['str32 2^32-1 header', Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff]), false],
    ['bin32 2^32-1 header', Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff]), false],
    ['unknown ext', Buffer.from([0xd4, 0x7f, 0x00]), false],
    ['never-used 0xc1', Buffer.from([0xc1]), false],
    ['structured-clone cycle', clone.pack(cyclic), false],
    ['RegExp ext', clone.pack({ type: 'state', rid: 1, op: 'value.set', name: 'x', a: /x/g }), false],
    ['Set ext', clone.pack({ type: 'state', rid: 1, op: 'value.set', name: 'x', a: new Set([1]) }), false],
    ['Error ext', clone.pack({ type: 'state', rid: 1, op: 'value.set', name: 'x', a: new Error('e') }), false],
    ['record', records.pack({ type: 'status', rid: 1 }), true],
    [
      '__proto__ key',
      encodeMessage(JSON.parse('{"type":"state","rid":1,"op":"dict.set","name":"d","key":"__proto__","__proto__":{"polluted":1}}')),
      true,
    ],
    ['constructor key', encodeMessage({ type: 'batch.close', id: 1, constructor: { prototype: { polluted: 1 } } }), true],
    ['int64 rid', new Packr({ useBigIntExtension: false }).pack({ type: 'status', rid: 2n ** 63n - 1n }), false],
    ['negative id', encodeMessage({ type: 'batch.cancel', id: -1 }), false],
    ['unknown op', encodeMessage({ type: 'state', rid: 1, op: 'eval', name: 'x' }), false],
    ['not a map', encodeMessage([1, 2, 3]), false],
    ['text frame', 'hello', false],
  ];

  it('each corpus frame gets E_BAD_MESSAGE or a close; the daemon stays up; prototypes untouched; a fresh connection works', async () => {
    const results: Record<string, string> = {};
    for (const [name, frame, validShaped] of corpus) {
      const sock = await d.raw({ hello: true });
      sock.send(frame);
      sock.send({ type: 'status', rid: 999 }); // ordering marker
      const first = await Promise.race([
        sock
          .next((m) => m.type === 'error' || m.type === 'batch.error' || m.type === 'reply')
          .then((m) =>
            // A malformed request that still names its rid or batch id is answered there, with the same code.
            m.type !== 'reply' || m.ok === false ? `error ${(m.error as { code: string }).code}` : m.rid === 999 ? 'marker' : 'reply',
          ),
        sock.closed.then((c) => `close ${c.code}`),
      ]);
      results[name] = first;
      const allowed = ['error E_BAD_MESSAGE', 'error E_TOO_LARGE', 'close 1002', 'close 1007', 'close 1008', 'close 1009'];
      if (validShaped) allowed.push('reply', 'marker');
      expect(allowed, `${name}: ${first}`).toContain(first);
      sock.ws.terminate();
    }
    // Invalid UTF-8 in a text frame: ws refuses it (1007) and the daemon says why.
    const utf8 = await d.raw({ hello: true });
    utf8.ws.send(Buffer.from([0xff, 0xfe, 0xfd]), { binary: false });
    expect(await utf8.closed).toMatchObject({ code: 1007 });
    expect(d.proc.exitCode).toBeNull();
    expect(await prototypesIntact(d)).toBe(true);
    expect(await good.map((x: number) => x + 1, [1, 2])).toEqual([2, 3]);
    figure('row7.corpus', results);
  });

  it('chunks that look like arrays of numbers but are not (the read-by-hand path) fail their own items with a code; a co-tenant mapping numbers beside is exact; no worker restarts', async () => {
    const task = { kind: 'source', hash: '', source: '(x) => x * 2' };
    task.hash = sourceHash(task.source);
    const whole = encodeData([1, 300, -5, 70_000, 1.5]);
    const payloads: [string, Uint8Array][] = [
      ['truncated', whole.subarray(0, whole.length - 3)],
      ['trailing byte', Buffer.concat([whole, Buffer.from([0x01])])],
      ['count past the bytes', Buffer.from([0xdd, 0x00, 0x10, 0x00, 0x00, 0x01, 0x02])],
      ['a records byte among numbers', Buffer.from([0x93, 0x01, 0x40, 0x02])],
      ['fewer numbers than the chunk announces', encodeData([1, 2])],
    ];
    const before = await good.status();
    const neighbour = good.map(
      (x: number) => x * 2,
      Array.from({ length: 200_000 }, (_, i) => i),
    );
    const sock = await d.raw({ hello: true });
    const outcomes: Record<string, string> = {};
    for (const [i, [name, payload]] of payloads.entries()) {
      const id = 7_000 + i;
      sock.send({
        type: 'batch.open',
        id,
        task,
        timeoutMs: 0,
        retries: 0,
        first: { type: 'batch.chunk', id, start: 0, count: 5, payload, final: true },
      });
      const m = await sock.next((x) => x.id === id && (x.type === 'chunk.result' || x.type === 'batch.error'));
      const codes =
        m.type === 'batch.error' ? [(m.error as { code: string }).code] : [...new Set((m.errors as { code: string }[]).map((e) => e.code))];
      outcomes[name] = codes.join(',');
      expect(codes.length, name).toBe(1);
      expect(['E_BAD_MESSAGE', 'E_BAD_TASK'], `${name}: ${codes.join(',')}`).toContain(codes[0]);
    }
    sock.ws.terminate();
    const out = await neighbour;
    expect(out.length).toBe(200_000);
    expect(out.every((v, i) => v === i * 2)).toBe(true);
    const after = await good.status();
    expect(after.workerRestarts).toBe(before.workerRestarts);
    expect(after.workers.map((w) => w.pid)).toEqual(before.workers.map((w) => w.pid));
    figure('row7.number-arrays', outcomes);
  });

  it(`mutation fuzz of valid frames (flip 1-2 bytes) for ${FUZZ_MS} ms: every frame answered or closed, the daemon never exits`, async () => {
    const task = { kind: 'source', hash: 'fuzz-identity', source: '(x) => x' };
    const seeds = [
      encodeMessage({ type: 'hello', v: PROTOCOL_VERSION, token: 'x'.repeat(43) }),
      encodeMessage({ type: 'status', rid: 7 }),
      encodeMessage({ type: 'state', rid: 8, op: 'value.get', name: 'fuzz' }),
      encodeMessage({ type: 'state', rid: 9, op: 'value.add', name: 'fuzz', a: encodeData(1) }),
      encodeMessage({ type: 'state', rid: 10, op: 'dict.set', name: 'fd', key: 'k', a: encodeData({ a: [1, 'b'] }) }),
      encodeMessage({ type: 'batch.open', id: 5, task, timeoutMs: 0, retries: 0 }),
      encodeMessage({ type: 'batch.chunk', id: 5, start: 0, count: 2, payload: encodeData([1, 2]) }),
      encodeMessage({ type: 'batch.cancel', id: 5 }),
    ];
    let sock = await d.raw({ hello: true });
    let sent = 0;
    let rejected = 0;
    let closes = 0;
    let marker = 1_000_000;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 2 }),
        async (which, flips) => {
          const frame = Buffer.from(seeds[which]!);
          for (const [pos, byte] of flips) frame[pos % frame.length] = byte;
          if (sock.ws.readyState !== 1) {
            closes++;
            sock = await d.raw({ hello: true });
          }
          const before = sock.messages.length;
          const rid = marker++;
          sock.send(frame);
          sock.send({ type: 'status', rid });
          sent++;
          const outcome = await Promise.race([
            sock.next((m) => m.type === 'reply' && m.rid === rid, 10_000).then(() => 'answered'),
            sock.closed.then(() => 'closed'),
          ]);
          const errs = sock.messages
            .slice(before)
            .filter((m) => m.type === 'error')
            .map((m) => (m.error as { code: string }).code);
          if (errs.length > 0) rejected++;
          for (const c of errs) expect(['E_BAD_MESSAGE', 'E_TOO_LARGE', 'E_AUTH']).toContain(c);
          expect(['answered', 'closed']).toContain(outcome);
          expect(d.proc.exitCode).toBeNull();
        },
      ),
      { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false },
    );
    sock.ws.terminate();
    expect(d.proc.exitCode).toBeNull();
    expect(await prototypesIntact(d)).toBe(true);
    const fresh = await d.connect();
    expect(await fresh.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    figure('row7.fuzz', { frames: sent, rejected, closes, crashes: 0, ms: FUZZ_MS });
  });
});

describe('row 8: oversized frames', () => {
  it('pre-auth 5 KiB: close 1009 E_TOO_LARGE, nothing else disturbed', async () => {
    const sock = await d.raw();
    sock.send(Buffer.alloc(5 * 1024, 1));
    expect(await sock.closed).toEqual({ code: 1009, reason: 'E_TOO_LARGE' });
  });

  it('post-auth maxPayload + 1: E_TOO_LARGE, then close 1009', async () => {
    const sock = await d.raw({ hello: true });
    const t0 = performance.now();
    sock.send(Buffer.alloc(8 * MiB + 1, 1));
    expect(await sock.closed).toEqual({ code: 1009, reason: 'E_TOO_LARGE' });
    expect(sock.messages.at(-1)).toMatchObject({ type: 'error', error: { code: 'E_TOO_LARGE' } });
    figure('row8.oversizeCloseMs', Math.round(performance.now() - t0));
    expect(await good.map((x: number) => x, [1])).toEqual([1]);
  });

  it('a flood of tiny fragments is closed; the daemon lives', async () => {
    const sock = await d.raw({ hello: true });
    const n = env('CP_FRAGMENTS', 20_000);
    const one = Buffer.from([0x90]);
    for (let i = 0; i < n && sock.ws.readyState === 1; i++) sock.ws.send(one, { binary: true, fin: false });
    const c = await sock.closed;
    expect([1008, 1009]).toContain(c.code);
    expect(d.proc.exitCode).toBeNull();
    expect(await good.map((x: number) => x, [1])).toEqual([1]);
  });

  it('unfinished messages hold at most the receive budget: the connections unfinished the longest are dropped (1013 E_LIMIT); a neighbour is served', async () => {
    // --max-payload 128 KiB: a budget of 64 such messages, 8 MiB; each holder counts ~120-131 KB (declared and read).
    await using small = await startDaemon({ args: ['--max-payload', String(128 * 1024)] });
    const neighbour = await small.connect();
    /** A masked client frame (mask key 0) declaring `declared` payload bytes, of which `sent` follow. */
    const frame = (first: number, declared: number, sent: number): Buffer => {
      const head = Buffer.alloc(14);
      head[0] = first;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(declared), 2);
      return Buffer.concat([head, Buffer.alloc(sent, 7)]);
    };
    const holders: RawSocket[] = [];
    for (let i = 0; i < 80; i++) {
      const sock = await small.raw({ hello: true });
      const socket = (sock.ws as unknown as { _socket: { write(b: Buffer): void } })._socket;
      // Half declare one frame and send part of it; half send whole fragments of a message they never end.
      if (i % 2 === 0) socket.write(frame(0x82, 130_000, 1_000));
      else socket.write(Buffer.concat([frame(0x02, 60_000, 60_000), frame(0x00, 60_000, 60_000)]));
      holders.push(sock);
    }
    const closedEarly = async (s: RawSocket): Promise<{ code: number; reason: string } | undefined> =>
      Promise.race([s.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 300))]);
    const outcomes = await Promise.all(holders.map(closedEarly));
    const dropped = outcomes.flatMap((o, i) => (o === undefined ? [] : [i]));
    expect(dropped.length).toBeGreaterThanOrEqual(10);
    // The oldest go first: every dropped one was opened before every one kept.
    expect(Math.max(...dropped)).toBeLessThan(outcomes.findIndex((o) => o === undefined) + dropped.length);
    for (const i of dropped) expect(outcomes[i]).toEqual({ code: 1013, reason: 'E_LIMIT' });
    expect(small.events('receive-budget').length).toBe(dropped.length);
    // A neighbour is served, its own messages read whole while the holders keep what is left of the budget.
    expect(await neighbour.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    expect(await neighbour.value<number>('served', { initial: 0 }).add(1)).toBe(1);
    for (const s of holders) s.ws.terminate();
    expect(small.proc.exitCode).toBeNull();
  });

  it('client.map over big items streams in chunks under the limit', async () => {
    const n = env('CP_BIG_ITEMS', 48);
    const items = Array.from({ length: n }, (_, i) => Buffer.alloc(MiB, i % 256));
    const out = await good.map((b: Uint8Array) => b.length + b[0]!, items);
    expect(out).toEqual(items.map((b) => b.length + b[0]!));
  });

  it('a single item larger than maxPayload gets a coded error, not a hang', async () => {
    const c = await d.connect({ reconnectTimeoutMs: 2000 });
    const err = await c
      .map((b: Uint8Array) => b.length, [Buffer.alloc(9 * MiB)])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toMatchObject({ name: 'TooLargeError', code: 'E_TOO_LARGE', index: 0 });
    expect(await c.map((x: number) => x, [1])).toEqual([1]);
  });
});

describe('row 9: authentication', () => {
  const canary = `canary-${process.pid}`;
  const canaryTask = `async (x, ctx) => { await ctx.value(${JSON.stringify(canary)}, { initial: 0 }).add(1); return x; }`;
  const hostile = (): unknown[] => [
    { type: 'state', rid: 1, op: 'value.add', name: canary, a: encodeData(1) },
    { type: 'batch.open', id: 1, task: { kind: 'source', hash: 'canary', source: canaryTask }, timeoutMs: 0, retries: 0 },
    { type: 'batch.chunk', id: 1, start: 0, count: 3, payload: encodeData([1, 2, 3]) },
  ];

  it('ops before hello, after a wrong token, or with no hello at all: 1008 E_AUTH and 0 side effects (canary)', async () => {
    const v = good.value<number>(canary, { initial: 0 });
    expect(await v.get()).toBe(0);
    const cases: [string, unknown[]][] = [
      ['ops before hello', [...hostile(), { type: 'hello', v: PROTOCOL_VERSION, token: d.token }]],
      ['wrong token, then ops', [{ type: 'hello', v: PROTOCOL_VERSION, token: 'wrong' }, ...hostile()]],
      ['empty token', [{ type: 'hello', v: PROTOCOL_VERSION, token: '' }, ...hostile()]],
    ];
    for (const [name, frames] of cases) {
      const sock = await d.raw();
      for (const f of frames) sock.send(f);
      expect(await sock.closed, name).toEqual({ code: 1008, reason: 'E_AUTH' });
      expect(sock.messages[0], name).toMatchObject({ type: 'error', error: { code: 'E_AUTH' } });
      expect(
        sock.messages.some((m) => m.type === 'welcome' || m.type === 'reply' || m.type === 'chunk.result'),
        name,
      ).toBe(false);
    }
    const silent = await d.raw();
    expect(await silent.closed).toEqual({ code: 1008, reason: 'E_AUTH' });
    // Nothing may run late either: a quiet window is the thing checked here, not a state to wait for.
    await new Promise((r) => setTimeout(r, 300));
    expect(await v.get()).toBe(0);
    // Positive control: the same task, authenticated, does move the canary.
    await good.map(new Function(`return (${canaryTask})`)() as (x: number) => Promise<number>, [1, 2, 3]);
    expect(await v.get()).toBe(3);
    figure('row9.unauthenticatedOpsExecuted', 0);
  });

  it('Origin and foreign Host upgrades get 403 before any frame', async () => {
    expect((await (await d.raw({ headers: { Origin: 'http://evil.example' } })).closed).code).toBe(403);
    expect((await (await d.raw({ headers: { Host: 'evil.com' } })).closed).code).toBe(403);
  });

  it('a non-loopback bind without an explicit token is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'corepool-bind-'));
    const r = spawnSync(process.execPath, [CLI, 'daemon', 'start', '--host', '0.0.0.0', '--port', '0', '--data-dir', dir], {
      encoding: 'utf8',
      timeout: 15_000,
      env: { ...process.env, COREPOOL_TOKEN: '' },
    });
    rmSync(dir, { recursive: true, force: true });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0/);
  });

  it('the token file is created 0600 and a group-readable one is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corepool-tok-'));
    try {
      const t = await startDaemon({ dataDir: dir, keepDataDir: true, workers: 1 });
      expect(statSync(join(dir, 'token')).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o077).toBe(0);
      await t[Symbol.asyncDispose]();
      chmodSync(join(dir, 'token'), 0o640);
      await expect(startDaemon({ dataDir: dir, keepDataDir: true, workers: 1 })).rejects.toThrow(/readable by other users/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
