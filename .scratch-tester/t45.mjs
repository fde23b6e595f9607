import { cli, desc } from './h.mjs';
const c = await cli();
const N = 3000; const poison = new Set([5, 777, 778, 2999]);
const r = await c.mapSettled((x) => { if ([5, 777, 778, 2999].includes(x)) process.exit(0); return x * 3; }, Array.from({ length: N }, (_, i) => i), { retries: 1 });
let ok = 0, wrong = [];
r.forEach((o, i) => { if (poison.has(i)) { if (o.status !== 'rejected' || o.reason.code !== 'E_WORKER_CRASHED' || o.reason.index !== i) wrong.push([i, o.status, o.reason?.code, o.reason?.index]); } else if (o.status === 'fulfilled' && o.value === i * 3) ok++; else wrong.push([i, o.status, o.reason?.code, o.reason?.message]); });
console.log('ok', ok, 'of', N - poison.size, 'wrong', wrong.slice(0, 5), r.filter(o => o.status === 'rejected').map(o => o.reason.attempts));
await c.close();
