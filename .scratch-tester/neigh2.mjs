import { cli } from './h.mjs';
const c = await cli({ name: 'neigh2' });
for (let k = 0; k < 5; k++) {
  const t0 = Date.now(); await c.map((x) => { const e = Date.now() + 2; while (Date.now() < e); return x; }, Array.from({length: 50}, (_, i) => i));
  const t1 = Date.now(); await c.submit(x => x, 1);
  console.log('neighbour map(50x2ms)', t1 - t0, 'ms; submit', Date.now() - t1, 'ms');
  await new Promise(r => setTimeout(r, 500));
}
await c.close();
