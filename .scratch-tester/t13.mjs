import { cli, desc } from './h.mjs';
const a = await cli(); const b = await cli();
const l = a.lock('hl'); await l.acquire();
await a.value('lv', {initial: 1n}).get(); await a.queue('lq').put(1); await a.dict('ld').set('k', 'v');
const r = await b.list(); console.log(JSON.stringify(r, (k, v) => typeof v === 'bigint' ? v.toString() : v).slice(0, 1500));
console.log(typeof b.list, Object.getOwnPropertyNames(Object.getPrototypeOf(b)));
await l.release(); await a.close(); await b.close();
