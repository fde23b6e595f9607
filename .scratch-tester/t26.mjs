import { cli, timeout, desc } from './h.mjs';
const c = await cli(); const c2 = await cli();
const n = 'w' + Date.now();
const seen = [];
const loop = (async () => { try { for await (const v of c.value(n).watch()) { seen.push(v); if (v === 3) break; } return 'ended'; } catch (e) { return desc(e); } })();
await new Promise(r => setTimeout(r, 200));
await c2.value(n).set(1); await new Promise(r => setTimeout(r, 100));
await c2.value(n).set(2); await new Promise(r => setTimeout(r, 100));
await c2.value(n).set(3);
console.log('watch nonexistent:', await timeout(loop, 3000).catch(e => desc(e)), seen);
// subscribe, delete, recreate
const ev = [];
c.value(n).subscribe((v, ver) => ev.push(`v${v}@${ver}`), undefined, () => ev.push('deleted'));
await new Promise(r => setTimeout(r, 100));
await c2.value(n).delete(); await new Promise(r => setTimeout(r, 100));
await c2.value(n).set(10); await new Promise(r => setTimeout(r, 100));
await c2.value(n).set(11); await new Promise(r => setTimeout(r, 100));
console.log('sub events', ev);
// rapid changes, subscriber ordering
const ev2 = []; c.value(n).subscribe((v) => ev2.push(v));
await new Promise(r => setTimeout(r, 100));
await Promise.all(Array.from({ length: 200 }, (_, i) => c2.value(n).set(100 + i)));
await new Promise(r => setTimeout(r, 300));
console.log('monotonic', ev2.every((v, i) => i === 0 || v > ev2[i - 1]), 'last', ev2.at(-1), 'count', ev2.length);
await c.close(); await c2.close();
