import { cli, timeout, desc } from './h.mjs';
const c = await cli();
async function t(label, f, ms=20000) { const t0=Date.now(); try { const r = await timeout(f(), ms, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,150), Date.now()-t0+'ms'); } catch (e) { console.log(label, 'ERR', desc(e), 'index=', e?.index, Date.now()-t0+'ms'); } }
await t('progress', async () => { const calls = []; const r = await c.map(x => x, Array.from({length: 1000}, (_, i) => i), { onProgress: (d, tot) => calls.push([d, tot]) }); return { last: calls.at(-1), n: calls.length, mono: calls.every((c, i) => i === 0 || c[0] >= calls[i-1][0]), ok: r.every((v, i) => v === i) }; });
await t('progress gen', async () => { const calls = []; await c.map(x => x, (function*(){ for (let i=0;i<100;i++) yield i; })(), { onProgress: (d, tot) => calls.push([d, tot]) }); return calls.at(-1); });
await t('progress throws', () => c.map(x => x, [1,2,3], { onProgress: () => { throw new Error('progress boom'); } }));
await t('big item', () => c.map(x => x.length, ['x'.repeat(9 * 1024 * 1024)]));
await t('big result', () => c.map(x => x === 1 ? 'y'.repeat(9*1024*1024) : x, [0, 1, 2]));
await t('many mid results', async () => { const r = await c.map(x => 'z'.repeat(3*1024*1024), [0, 1, 2, 3], { chunkSize: 4 }); return r.map(s => s.length); });
await t('length change', () => { const arr = Array.from({length: 100000}, (_, i) => i); setTimeout(() => arr.push(1), 5); return c.map(x => x, arr, {chunkSize: 10}).then(r => r.length); });
await t('next returns non-object', () => c.map(x => x, { [Symbol.iterator]() { return { next() { return 5; } }; } }));
await t('iterator yields holes', () => c.map(x => x, { [Symbol.iterator]() { let i = 0; return { next() { return i++ < 3 ? { value: undefined, done: false } : { done: true }; } }; } }));
await t('mapSettled mixed', async () => (await c.mapSettled(x => { if (x === 1) throw new Error('one'); if (x === 2) process.exit(1); return x; }, [0, 1, 2, 3], { retries: 0 })).map(r => r.status + ':' + (r.value ?? r.reason?.code)));
await t('deep', () => { let o = []; for (let i = 0; i < 100000; i++) o = [o]; return c.map(x => 1, [o]); });
await t('deep result', () => c.map(x => { let o = []; for (let i = 0; i < 100000; i++) o = [o]; return o; }, [1]));
await t('huge bigint item', () => c.map(x => x.toString(16).length, [2n ** 20000000n]));
await t('huge sparse array', () => { const a = []; a[1e8] = 1; return c.map(x => x.length, [a]); });
await t('huge sparse array result', () => c.map(x => { const a = []; a[5e7] = 1; return a; }, [1]).then(r => r[0].length));
await c.close();
