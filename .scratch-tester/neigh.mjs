import { cli } from './h.mjs';
const c = await cli();
const v = c.value('neigh', { initial: 0 });
const end = Date.now() + (+process.argv[2] || 5000); let n = 0, max = 0;
while (Date.now() < end) { const t = Date.now(); await v.add(1); max = Math.max(max, Date.now() - t); n++; }
console.log('neighbour adds', n, 'max latency', max);
const t0 = Date.now(); await c.map(x => x, [1,2,3]); console.log('neighbour map', Date.now() - t0, 'ms');
await c.close();
