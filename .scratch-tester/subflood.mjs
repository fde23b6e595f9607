import { cli, desc } from './h.mjs';
const c = await cli({ name: 'subflood' });
const N = +process.argv[2] || 20000;
const t0 = Date.now();
const ps = []; for (let i = 0; i < N; i++) ps.push(c.submit((x) => { const e = Date.now() + 2; while (Date.now() < e); return x; }, i));
const rs = await Promise.allSettled(ps);
const bad = rs.filter(r => r.status === 'rejected');
console.log('subflood', N, 'done in', Date.now() - t0, 'rejected', bad.length, bad[0] && desc(bad[0].reason), 'ok', rs.every((r, i) => r.status === 'rejected' || r.value === i));
await c.close();
