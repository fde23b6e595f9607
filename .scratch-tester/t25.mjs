import { cli, timeout, desc } from './h.mjs';
const c = await cli();
const busy = (x) => { const e = Date.now() + 5; while (Date.now() < e); return x; };
for (let k = 0; k < 3; k++) {
  const t0 = Date.now();
  const r = await c.mapSettled(busy, Array.from({ length: 400 }, (_, i) => i), { timeoutMs: 100 });
  const bad = r.filter(o => o.status === 'rejected');
  console.log(`run ${k}: ${bad.length}/400 items failed`, bad[0] ? desc(bad[0].reason) + ' index ' + bad[0].reason.index : '', Date.now() - t0, 'ms');
}
await c.close();
