import { cli, timeout, desc } from './h.mjs';
async function t(label, f, ms=8000) { const t0=Date.now(); try { const r = await timeout(f(), ms, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,150), Date.now()-t0+'ms'); } catch (e) { console.log(label, 'ERR', desc(e), Date.now()-t0+'ms'); } }
{ const c = await cli(); await t('onProgress closes', () => c.map(x => x, Array.from({length: 100}, (_, i) => i), { chunkSize: 5, onProgress: () => { c.close(); } })); }
{ const c = await cli(); const ac = new AbortController(); await t('onProgress aborts', () => c.map(x => x, Array.from({length: 100}, (_, i) => i), { chunkSize: 5, signal: ac.signal, onProgress: (d) => { if (d >= 10) ac.abort('enough'); } })); await t('reuse', () => c.map(x => x, [1])); await c.close(); }
{ const c = await cli(); const v = c.value('re' + Date.now(), { initial: 0 }); 
  const p = new Promise((res) => v.subscribe(async (val) => { if (val === 1) { await c.close(); res('closed in cb'); } }));
  await v.set(1); await t('close in subscribe cb', () => p); }
{ const c = await cli(); let n = 0; await t('iterable calls map re-entrantly', () => c.map(x => x, (function*(){ for (let i = 0; i < 5; i++) { n++; yield i; } })()).then(async r => [r, await c.map(x => x * 2, r)])); await c.close(); }
{ const c = await cli(); await t('gen that awaits client inside (async)', () => c.map(x => x, (async function*(){ for (let i = 0; i < 3; i++) yield await c.submit(x => x + 100, i); })())); await c.close(); }
{ const c = await cli(); await t('imap nested in imap', async () => { const out = []; for await (const a of c.imap(x => x, [1, 2, 3])) for await (const b of c.imap(x => x * 10, [a])) out.push(b); return out; }); await c.close(); }
{ const c = await cli(); await t('imap return() called twice / next after return', async () => { const it = c.imap(x => x, [1, 2, 3])[Symbol.asyncIterator](); const a = await it.next(); await it.return?.(); await it.return?.(); const b = await it.next(); return [a, b]; }); await t('reuse', () => c.map(x => x, [1])); await c.close(); }
{ const c = await cli(); await t('imap iterated twice', async () => { const g = c.imap(x => x, [1, 2, 3]); const o = []; for await (const x of g) o.push(x); for await (const x of g) o.push(x); return o; }); await c.close(); }
{ const c = await cli(); await t('imap never iterated then close', async () => { c.imap(x => x, [1, 2, 3]); await new Promise(r => setTimeout(r, 200)); await c.close(); return 'closed'; }); }
{ const c = await cli(); await t('imap next() concurrently', async () => { const it = c.imap(x => new Promise(r => setTimeout(() => r(x), 50 * (3 - x))), [0, 1, 2])[Symbol.asyncIterator](); return Promise.all([it.next(), it.next(), it.next(), it.next()]); }); await c.close(); }
