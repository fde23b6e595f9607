import { cli } from './h.mjs';
import { getEventListeners } from 'node:events';
process.on('warning', (w) => console.log('WARNING', w.name, w.message.slice(0, 120)));
const c = await cli();
const ac = new AbortController();
for (let i = 0; i < 2000; i++) await c.submit(x => x, i, { signal: ac.signal });
console.log('listeners after 2000 submits:', getEventListeners(ac.signal, 'abort').length);
for (let i = 0; i < 200; i++) { for await (const r of c.imap(x => x, [1, 2, 3], { signal: ac.signal })) break; }
console.log('listeners after 200 broken imaps:', getEventListeners(ac.signal, 'abort').length);
for (let i = 0; i < 200; i++) await c.map(x => { if (x === 1) throw new Error('x'); return x; }, [0, 1, 2], { signal: ac.signal }).catch(() => {});
console.log('listeners after 200 failed maps:', getEventListeners(ac.signal, 'abort').length);
for (let i = 0; i < 200; i++) await c.mapSettled(x => x, [0, 1], { signal: ac.signal });
console.log('listeners after 200 mapSettled:', getEventListeners(ac.signal, 'abort').length);
// lock/queue with signal? 
const v = c.value('lk' + Date.now(), { initial: 0 });
for (let i = 0; i < 300; i++) { const s = v.subscribe(() => {}); s(); }
for (let i = 0; i < 300; i++) { for await (const x of v.watch()) break; }
console.log('mem ok');
await c.close();
