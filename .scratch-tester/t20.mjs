import { cli, desc } from './h.mjs';
const c = await cli(); const c2 = await cli();
const n = 'lost' + Date.now();
const mode = process.argv[2] ?? 'a';
if (mode === 'a') await c.map(async (x, ctx) => ctx.queue(x).get({ timeoutMs: 0 }).catch(e => e.code), [n]);
if (mode === 'p') { await c2.queue(n).put('x'); await c2.queue(n).get(); }
try { await c.map(async (x, ctx) => ctx.queue(x).get(), [n], { timeoutMs: 300 }); } catch (e) { console.log('map:', e.code, e.message); }
await c2.queue(n).put('item');
for (const wait of [0, 1000, 5000]) {
  await new Promise(r => setTimeout(r, wait));
  console.log(`after +${wait}ms: size=${await c2.queue(n).size()}`, await c2.queue(n).get({ timeoutMs: 500 }).then(v => 'got ' + v, e => e.code));
}
const st = await c2.status(); console.log('blockedGets', st.blockedGets, 'workers', st.workers.map(w => w.pid + ':' + (w.lastRestart?.cause ?? '')));
await c.close(); await c2.close();
