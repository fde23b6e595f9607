import { cli, timeout, desc } from './h.mjs';
const a = await cli({ name: 'hog' }); const b = await cli({ name: 'victimB' });
const ac = new AbortController();
const hog = a.map(x => new Promise(() => { const e = Date.now() + 1e9; }), [1, 2, 3, 4], { chunkSize: 1, signal: ac.signal }).catch(e => e.code);
await new Promise(r => setTimeout(r, 500));
for (let k = 0; k < 3; k++) {
  const t0 = Date.now();
  try { await timeout(b.map(x => { const e = Date.now() + 2; while (Date.now() < e); return x; }, Array.from({ length: 50 }, (_, i) => i)), 20000); console.log('B map of 50x2ms took', Date.now() - t0, 'ms'); }
  catch (e) { console.log('B', desc(e), Date.now() - t0); }
}
ac.abort(); console.log('hog', await hog);
await a.close(); await b.close();
