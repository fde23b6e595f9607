import { cli, timeout, desc } from './h.mjs';
const c = await cli(); const c2 = await cli();
async function t(label, f, ms=20000) { const t0=Date.now(); try { const r = await timeout(f(), ms, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,200), Date.now()-t0+'ms'); } catch (e) { console.log(label, 'ERR', desc(e), 'index=', e?.index, Date.now()-t0+'ms'); } }
const n = 's' + Date.now();
await c.value(n, { initial: 0 }).get();
await t('task sub throws', () => c.map(async (x, ctx) => {
  let calls = 0;
  ctx.value(x).subscribe(() => { calls++; throw new Error('cb throws in task'); });
  await new Promise(r => setTimeout(r, 800));
  return { calls, pid: process.pid };
}, [n]));
await t('c2 during', () => c2.map(x => process.pid, [1, 2]));
await t('task unhandled rejection', () => c.map(async (x) => { Promise.reject(new Error('unhandled in task')); await new Promise(r => setTimeout(r, 100)); return process.pid; }, [1]));
await t('task uncaught in timer', () => c.map(async (x) => { setTimeout(() => { throw new Error('timer throw'); }, 10); await new Promise(r => setTimeout(r, 200)); return process.pid; }, [1]));
await t('task uncaught in timer after return', async () => { const r = await c.map(async (x) => { setImmediate(() => { throw new Error('late throw'); }); return process.pid; }, [1]); await new Promise(r => setTimeout(r, 300)); return r; });
await t('c2 after', () => c2.map(x => process.pid, [1, 2, 3, 4], { chunkSize: 1 }));
await t('task process.on', () => c.map(async (x) => { process.on('uncaughtException', () => {}); process.removeAllListeners('message'); process.removeAllListeners('disconnect'); return 1; }, [1, 2, 3, 4], { chunkSize: 1 }));
await t('c2 after2', () => c2.map(x => process.pid, [1, 2, 3, 4], { chunkSize: 1 }));
await t('task process.send', () => c.map(async (x) => { try { process.send?.({ type: 'result', junk: true }); } catch (e) { return 'send threw ' + e.message; } return typeof process.send; }, [1]));
await t('task process.disconnect', () => c.map(async (x) => { process.disconnect?.(); return 1; }, [1], { retries: 0 }));
await t('task kill parent', () => c.map(async (x) => { return process.ppid; }, [1]));
await t('c2 after3', () => c2.map(x => process.pid, [1, 2, 3, 4], { chunkSize: 1 }));
await c.close(); await c2.close();
