/**
 * A frame whose msgpack declares an array of millions of elements in a few
 * bytes: msgpackr allocated the whole array before reading one element. Sent
 * before any token, each 6-byte frame held the primary ~170 ms and 270 MB; a
 * loop of them left a neighbour's awaited adds at 106 in 4 s instead of
 * ~20,000 (a review's figures). Now such a frame is refused before it is
 * decoded (msgpack-counts.ts), and so is a state operand holding one.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';

/** The primary's CPU time so far, in ms (/proc/<pid>/stat, fields 14 and 15, in 10 ms ticks). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

it('frames declaring 33 million array elements cost the primary nothing, before or after hello', { timeout: 60_000 }, async () => {
  await using d = await startDaemon({ workers: 1 });
  const bomb = Buffer.from([0xdd, 0x01, 0xff, 0xff, 0xff, 0x01]);
  const before = cpuMs(d.pid);
  for (let i = 0; i < 20; i++) {
    const authed = i % 2 === 0;
    const s = await d.raw({ hello: authed });
    s.ws.send(bomb);
    // Before hello the connection ends; after it, the frame is answered as bad and the connection goes on.
    if (authed) {
      expect(await s.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'E_BAD_MESSAGE' } });
      s.ws.close();
    } else expect(await s.closed).toMatchObject({ code: 1008 });
  }
  // 20 frames took ~3,400 ms of the primary before (170 ms each); what is left is 20 connections' handshakes.
  expect(cpuMs(d.pid) - before).toBeLessThan(1000);

  // The same in a value's bytes: refused as not well-formed, never decoded.
  const c = await d.connect();
  const raw = await d.raw({ hello: true });
  raw.send({ type: 'state', rid: 1, op: 'value.set', name: 'v', a: new Uint8Array(bomb) });
  expect(await raw.next((m) => m.type === 'reply')).toMatchObject({ ok: false, error: { code: 'E_BAD_MESSAGE' } });
  expect(await c.value<number>('n', { initial: 0 }).add(1)).toBe(1);
});
