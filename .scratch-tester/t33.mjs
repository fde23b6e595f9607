import { cli } from './h.mjs';
const c = await cli();
try { await c.map(x => { throw new Error('m'.repeat(20e6)); }, [1]); } catch (e) { console.log('message length', e.message.length, 'remoteStack length', e.remoteStack?.length); }
const r = await c.mapSettled(x => { throw new Error(String(x).repeat(3e6)); }, [1, 2, 3, 4, 5], { chunkSize: 5 });
console.log(r.map(o => o.reason?.message.length));
await c.close();
