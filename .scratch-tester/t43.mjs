import { cli, desc } from './h.mjs';
const c = await cli();
const total = (await c.list({ limit: 10000 })).entries.length;
console.log('total entries', total);
for (const cur of [String(total - 1), String(total), String(total + 1), '1000', '9007199254740991', '9007199254740993', '99999999999999999999'])
  try { const r = await c.list({ cursor: cur, limit: 5 }); console.log('cursor', cur, '-> entries', r.entries.length, 'first', r.entries[0]?.name, 'next', r.next); } catch (e) { console.log('cursor', cur, 'ERR', desc(e)); }
await c.close();
