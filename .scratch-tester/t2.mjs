import { cli, timeout, desc } from './h.mjs';
const c = await cli();
async function t(label, f) { try { const r = await timeout(f(), 10000, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,100)); } catch (e) { console.log(label, 'ERR', desc(e)); } }
for (const cs of [0, -1, 1.5, '10', Infinity, NaN, null, 2**40, true])
  await t('chunkSize ' + String(cs), () => c.map(x => x, [1,2,3], { chunkSize: cs }));
for (const tm of [NaN, 0, -1, Infinity, '100', 2**31, null, 1.5])
  await t('timeoutMs ' + String(tm), () => c.map(x => x, [1,2,3], { timeoutMs: tm }));
for (const r of [-1, 1.5, NaN, Infinity, '2', 1e9, null])
  await t('retries ' + String(r), () => c.map(x => x, [1], { retries: r }));
for (const p of [1001, NaN, '1', 1.5])
  await t('priority ' + String(p), () => c.map(x => x, [1], { priority: p }));
await t('signal non', () => c.map(x => x, [1], { signal: {} }));
await t('onProgress non', () => c.map(x => x, [1], { onProgress: 5 }));
await t('opts null', () => c.map(x => x, [1], null));
await t('opts string', () => c.map(x => x, [1], 'x'));
await t('items null', () => c.map(x => x, null));
await t('items string', () => c.map(x => x, 'abc'));
await t('items number', () => c.map(x => x, 5));
await t('items object', () => c.map(x => x, {a:1}));
await t('fn null', () => c.map(null, [1]));
await t('fn string', () => c.map('x => x', [1]));
await t('fn native', () => c.map(Math.abs, [-1]));
await t('fn bound', () => c.map(((x) => x).bind(null), [-1]));
await t('fn class', () => c.map(class A {}, [1]));
await t('fn method shorthand', () => c.map({ f(x) { return x+1; } }.f, [1]));
await t('fn async gen', () => c.map(async function*(x) { yield x; }, [1]));
await t('fn gen', () => c.map(function*(x) { yield x; }, [1]));
await t('fn getter', () => c.map(Object.getOwnPropertyDescriptor({get g(){return 1}}, 'g').get, [1]));
await t('closure', () => { const k = 3; return c.map(x => x + k, [1]); });
await t('submit opts', () => c.submit(x => x, 1, { chunkSize: 2 }));
await t('imap ordered str', async () => { const o=[]; for await (const r of c.imap(x=>x,[1,2],{ordered:'no'})) o.push(r); return o; });
await c.close();
