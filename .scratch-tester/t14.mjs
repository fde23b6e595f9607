import { cli, timeout, desc } from './h.mjs';
const c = await cli();
async function t(label, f, ms=30000) { const t0=Date.now(); try { const r = await timeout(f(), ms, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,200), Date.now()-t0+'ms'); } catch (e) { console.log(label, 'ERR', desc(e), 'index=', e?.index, Date.now()-t0+'ms'); } }
const N = 500;
await t('imap unordered with crashes', async () => {
  const seen = new Map();
  for await (const r of c.imap((x) => { if (x % 97 === 5 && Math.random() < 0.5) process.exit(1); return x; }, Array.from({length: N}, (_, i) => i), { ordered: false }))
    seen.set(r, (seen.get(r) ?? 0) + 1);
  return { n: seen.size, dup: [...seen.values()].filter(v => v > 1).length };
});
await t('mapSettled crash+timeout', async () => {
  const r = await c.mapSettled((x) => { if (x === 3) process.exit(1); if (x === 7) while (true) {} return x; }, Array.from({length: 20}, (_, i) => i), { timeoutMs: 500, retries: 1 });
  return r.map((o, i) => o.status === 'fulfilled' ? (o.value === i ? '.' : 'X') : o.reason.code + '@' + o.reason.index);
});
await t('imap error mid', async () => { const out = []; try { for await (const r of c.imap(x => { if (x === 50) throw new Error('fifty'); return x; }, Array.from({length: 100}, (_, i) => i))) out.push(r); } catch (e) { return [out.length, e.code, e.index]; } return out.length; });
await t('mapSettled abort', async () => { const ac = new AbortController(); setTimeout(() => ac.abort(new Error('user abort')), 200); return c.mapSettled(x => new Promise(r => setTimeout(() => r(x), 100)), Array.from({length: 50}, (_, i) => i), { signal: ac.signal }).then(r => r.map(o => o.status[0]).join('')); });
await t('submit timeout', () => c.submit(x => { while (true) {} }, 1, { timeoutMs: 200 }));
await t('after', () => c.map(x => x, [1, 2, 3]));
await c.close();
