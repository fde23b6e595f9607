import { cli, desc } from './h.mjs';
const c = await cli();
for (const o of [{ limit: 0 }, { limit: -1 }, { limit: 1e9 }, { limit: 1.5 }, { limit: 'x' }, { cursor: 'abc' }, { cursor: '99999999999999999999' }, { cursor: '1' }, { kind: 'bogus' }, { kind: 'lock' }, { limt: 1 }, null, 5])
  try { const r = await c.list(o); console.log(JSON.stringify(o), 'OK entries', r.entries.length, 'next', r.next); } catch (e) { console.log(JSON.stringify(o), 'ERR', desc(e)); }
// paging consistency
let all = [], cur, pages = 0;
do { const r = await c.list({ limit: 3, cursor: cur }); all.push(...r.entries.map(e => e.kind + ':' + e.name)); cur = r.next; pages++; } while (cur && pages < 1000);
const one = (await c.list({ limit: 100000 })).entries.map(e => e.kind + ':' + e.name);
console.log('paged', all.length, 'in', pages, 'pages; one shot', one.length, 'dupes', all.length - new Set(all).size);
await c.close();
