import { cli, timeout, desc } from './h.mjs';
const c = await cli(); const c2 = await cli();
async function t(label, f, ms=4000) { const t0=Date.now(); try { const r = await timeout(f(), ms, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,100), Date.now()-t0+'ms'); } catch (e) { console.log(label, 'ERR', desc(e), Date.now()-t0+'ms'); } }
const n = 'l' + Date.now(); const l = c.lock(n);
await t('acq Infinity', async () => { const g = await l.acquire({ timeoutMs: Infinity }); await l.release(); return g.token; });
await t('withLock throws', () => l.withLock(async () => { throw new Error('inside'); }));
await t('withLock throws nonerror', () => l.withLock(async () => { throw 42; }));
await t('withLock sync fn', () => l.withLock(() => 5));
await t('withLock sync throw', () => l.withLock(() => { throw new Error('sync'); }));
await t('free?', async () => { const h=c2.lock(n); await h.acquire({ timeoutMs: 100 }); await h.release(); return 'free'; });
// withLock that never returns while another client waits
const never = l.withLock(() => new Promise(() => {}));
await t('c2 waits 500', () => c2.lock(n).acquire({ timeoutMs: 500 }));
// nested withLock same client (not re-entrant) -> deadlock?
await t('reentrant other handle', () => c.lock(n).acquire({ timeoutMs: 300 }));
await t('reentrant same handle', () => l.acquire({ timeoutMs: 300 }));
await t('release by other handle', () => c.lock(n).release());
await t('c.close w/ never withLock', async () => { const p = never.catch(e => desc(e)); await c.close(); return await timeout(p, 3000, 'never'); });
await t('c2 acquires after', async () => { const h=c2.lock(n); const g = await h.acquire({ timeoutMs: 2000 }); await h.release(); return g.token; });
await c2.close();
