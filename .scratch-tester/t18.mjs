import { cli, desc } from './h.mjs';
const c = await cli(); const c2 = await cli();
const n = 'lost' + Date.now();
try { await c.map(async (x, ctx) => ctx.queue(x).get(), [n], { timeoutMs: 300 }); } catch (e) { console.log('map:', e.code); }
await c2.queue(n).put('item');
for (const wait of [0, 500, 3000]) {
  await new Promise(r => setTimeout(r, wait));
  console.log(`after ${wait}ms: size=${await c2.queue(n).size()}`, await c2.queue(n).get({ timeoutMs: 100 }).then(v => 'got ' + v, e => e.code));
}
console.log(JSON.stringify((await c2.list()).entries.filter(e => e.name === n)));
await c.close(); await c2.close();
