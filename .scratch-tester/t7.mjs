import { cli, timeout, desc } from './h.mjs';
const c = await cli();
async function t(label, f, ms=4000) { const t0=Date.now(); try { const r = await timeout(f(), ms, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,100), Date.now()-t0+'ms'); } catch (e) { console.log(label, 'ERR', desc(e), Date.now()-t0+'ms'); } }
const q = c.queue('q' + Date.now());
for (const tm of [0, -1, NaN, Infinity, -Infinity, 1.5, '100', null, 2**31, 2**53, 1e-9])
  await t('get timeout ' + String(tm), () => q.get({ timeoutMs: tm }), 2500);
await t('get opts bad key', () => q.get({ timeout: 10 }));
await t('put undefined', () => q.put(undefined));
await t('get undefined', () => q.get({ timeoutMs: 0 }));
await t('put fn', () => q.put(() => 1));
await t('put nothing', () => q.put());
await t('size', () => q.size?.());
const l = c.lock('l' + Date.now());
for (const tm of [0, -1, NaN, Infinity, '5'])
  await t('acquire timeout ' + String(tm), async () => { const g = await l.acquire({ timeoutMs: tm }); await g.release?.(); return typeof g; }, 2500);
await t('withLock throws', () => l.withLock(async () => { throw new Error('inside'); }));
await t('withLock throws nonerror', () => l.withLock(async () => { throw 42; }));
await t('withLock sync fn', () => l.withLock(() => 5));
await t('withLock not fn', () => l.withLock(5));
await t('after throw acquire', async () => { const g = await l.acquire({ timeoutMs: 100 }); await g.release(); return 'free'; });
const d = c.dict('d' + Date.now());
for (const k of ['', 'a\0b', 'x'.repeat(2000), '\ud800', 5, Symbol('s'), '__proto__', 'constructor'])
  await t('dict key ' + String(k).slice(0,10), () => d.set(k, 1));
await t('entries', () => d.entries());
await t('keys', () => d.keys());
await t('get __proto__', () => d.get('__proto__'));
await t('get missing', () => d.get('nope'));
await t('delete missing', () => d.delete('nope'));
await c.close();
