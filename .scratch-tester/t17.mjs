import { cli, timeout, desc } from './h.mjs';
const c = await cli(); const c2 = await cli();
async function t(label, f, ms=15000) { const t0=Date.now(); try { const r = await timeout(f(), ms, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,200), Date.now()-t0+'ms'); } catch (e) { console.log(label, 'ERR', desc(e), 'index=', e?.index, Date.now()-t0+'ms'); } }
const n = 'tk' + Date.now();
await t('task holds lock and returns', () => c.map(async (x, ctx) => { await ctx.lock(x).acquire(); return 'took'; }, [n]));
await t('c2 acquires after', async () => { const l = c2.lock(n); await l.acquire({ timeoutMs: 2000 }); await l.release(); return 'ok'; });
await t('task withLock throws', () => c.map(async (x, ctx) => ctx.lock(x).withLock(() => { throw new Error('in task lock'); }), [n]));
await t('task queue get timeout 0', () => c.map(async (x, ctx) => ctx.queue(x).get({ timeoutMs: 0 }).catch(e => e.code), [n]));
await t('task queue get Infinity, with timeoutMs on batch', () => c.map(async (x, ctx) => ctx.queue(x).get(), [n], { timeoutMs: 300 }));
await t('c2 put then get', async () => { await c2.queue(n).put('item'); return c2.queue(n).get({ timeoutMs: 500 }); });
await t('task value add', () => c.map(async (x, ctx) => ctx.value(x, { initial: 0 }).add(1), Array(20).fill(n + 'v')).then(r => new Set(r).size));
await t('ctx misc', () => c.map(async (x, ctx) => Object.keys(ctx).concat(Object.getOwnPropertyNames(Object.getPrototypeOf(ctx))), [1]));
await t('ctx.map nested', () => c.map(async (x, ctx) => typeof ctx.map, [1]));
await t('ctx used after task end', async () => { await c.map(async (x, ctx) => { setTimeout(() => ctx.value('late').set(1).catch(() => {}), 50); return 1; }, [1]); await new Promise(r => setTimeout(r, 200)); return 'ok'; });
await t('task awaits own client queue forever + abort', () => c.map(async (x, ctx) => ctx.queue(x + 'never').get(), [n], { signal: AbortSignal.timeout(300) }));
await t('after', () => c2.map(x => x, [1, 2]));
await c.close(); await c2.close();
