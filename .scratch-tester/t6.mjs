import { cli, timeout, desc } from './h.mjs';
const c = await cli();
const u = 'n' + Date.now();
const results = {};
const track = (label, p) => p.then(r => results[label] = 'OK ' + JSON.stringify(r)?.slice(0,80), e => results[label] = 'ERR ' + desc(e));
track('map long', c.map(x => new Promise(r => setTimeout(() => r(x), 5000)), [1,2,3]));
track('map infinite gen', c.map(x => new Promise(r => setTimeout(() => r(x), 50)), (function*(){ let i=0; while(true) yield i++; })()));
track('imap', (async () => { for await (const r of c.imap(x => new Promise(r => setTimeout(() => r(x), 5000)), [1])) {} })());
track('queue get forever', c.queue(u).get());
track('queue get 5s', c.queue(u).get({ timeoutMs: 5000 }));
const c2 = await cli();
const held = await c2.lock(u).acquire();
track('lock acquire blocked', c.lock(u).acquire());
track('withLock blocked', c.lock(u).withLock(async () => 1));
track('watch', (async () => { for await (const v of c.value(u, { initial: 0 }).watch()) {} })());
let ended; c.value(u).subscribe(v => {}, (e) => ended = e); 
await new Promise(r => setTimeout(r, 500));
const t0 = Date.now();
await timeout(c.close(), 10000, 'close');
console.log('close took', Date.now() - t0);
await new Promise(r => setTimeout(r, 200));
console.log(results, 'ended', desc(ended));
// after close
for (const [l, f] of Object.entries({
  map: () => c.map(x => x, [1]), submit: () => c.submit(x => x, 1), mapSettled: () => c.mapSettled(x=>x,[1]),
  vget: () => c.value('x').get(), qput: () => c.queue('x').put(1), dset: () => c.dict('x').set('a', 1), lock: () => c.lock('x').acquire(),
  withLock: () => c.lock('x').withLock(async () => 1), list: () => c.list(), close2: () => c.close(),
  imap: async () => { for await (const r of c.imap(x=>x,[1])) {} }, watch: async () => { for await (const r of c.value('x').watch()) {} },
  dkeys: () => c.dict('x').keys(),
})) { try { const r = await timeout(Promise.resolve().then(f), 5000, l); console.log('after close', l, 'OK', r); } catch (e) { console.log('after close', l, 'ERR', desc(e)); } }
try { const s = c.value('x').subscribe(() => {}); console.log('subscribe after close returns', typeof s); } catch (e) { console.log('subscribe after close threw', desc(e)); }
await held.release(); await c2.close();
