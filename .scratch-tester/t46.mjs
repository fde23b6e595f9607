import { cli, desc } from './h.mjs';
const c = await cli();
const r = await c.mapSettled((x) => { if (x === 3 || x === 14) while (true) {} return x; }, Array.from({ length: 20 }, (_, i) => i), { timeoutMs: 200, chunkSize: 10 });
console.log(r.map((o, i) => o.status === 'fulfilled' ? (o.value === i ? '.' : 'X') : o.reason.code[2]).join(''));
const r2 = await c.mapSettled(async (x) => { if (x === 3) await new Promise(() => {}); return x; }, Array.from({ length: 10 }, (_, i) => i), { timeoutMs: 200, chunkSize: 10 });
console.log(r2.map((o, i) => o.status === 'fulfilled' ? (o.value === i ? '.' : 'X') : o.reason.code[2]).join(''));
await c.close();
