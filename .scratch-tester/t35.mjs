import { cli, timeout, desc } from './h.mjs';
const a = await cli({ name: 'leaver' }); const b = await cli({ name: 'innocent' });
const n = 'wl' + Date.now();
await a.value(n, { initial: 0 }).get();
// app A: tasks start a watch loop they do not await (no catch), and return
console.log('A:', await a.map((x, ctx) => { (async () => { for await (const v of ctx.value(x).watch()) {} })(); return process.pid; }, [n, n, n, n], { chunkSize: 1 }).catch(desc));
// app A: task starts non-awaited queue get with no catch
console.log('A2:', await a.map((x, ctx) => { ctx.queue(x + 'q').get(); return process.pid; }, [n, n], { chunkSize: 1 }).catch(desc));
// app A: non-awaited lock acquire on a held lock
const hold = a.lock(n + 'L'); await hold.acquire();
console.log('A3:', await a.map((x, ctx) => { ctx.lock(x + 'L').acquire(); return process.pid; }, [n, n], { chunkSize: 1 }).catch(desc));
await new Promise(r => setTimeout(r, 100));
await a.value(n).set(1);
// app B runs on the same workers afterwards
const r = await b.mapSettled((x) => new Promise(res => setTimeout(() => res(process.pid), 50)), Array.from({ length: 8 }, (_, i) => i), { chunkSize: 1 });
console.log('B:', r.map(o => o.status === 'fulfilled' ? 'ok' : desc(o.reason)));
await hold.release();
await a.close(); await b.close();
