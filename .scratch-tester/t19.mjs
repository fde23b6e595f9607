import { cli, desc } from './h.mjs';
const c = await cli(); const c2 = await cli();
const n = 'lost' + Date.now();
const step = process.argv[2];
if (step === 'a') console.log(await c.map(async (x, ctx) => ctx.queue(x).get({ timeoutMs: 0 }).catch(e => e.code), [n]));
if (step === 'b') console.log(await c.map(async (x, ctx) => { await ctx.lock(x).acquire(); return 'took'; }, [n]));
if (step === 'c') console.log(await c.map(async (x, ctx) => 1, [n]));
try { await c.map(async (x, ctx) => ctx.queue(x).get(), [n], { timeoutMs: 300 }); } catch (e) { console.log('map:', e.code); }
await c2.queue(n).put('item');
console.log(`size=${await c2.queue(n).size()}`, await c2.queue(n).get({ timeoutMs: 500 }).then(v => 'got ' + v, e => e.code));
await c.close(); await c2.close();
