import { cli } from './h.mjs';
const c = await cli({ name: 'writer' }); const v = c.value('hot'); const o = c.value('other');
let n = 0; const end = Date.now() + 3000; while (Date.now() < end) { await v.set(n++); }
let m = 0; const end2 = Date.now() + 2000; while (Date.now() < end2) { await o.set(m++); }
console.log('writer sets of hot in 3 s:', n, '; sets of an unsubscribed value in 2 s:', m);
await c.close();
