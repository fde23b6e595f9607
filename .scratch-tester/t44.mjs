import { cli, desc } from './h.mjs';
const c = await cli();
for (const [k, v] of Object.entries({ sab: new SharedArrayBuffer(4), u8sab: new Uint8Array(new SharedArrayBuffer(4)), dvsab: new DataView(new SharedArrayBuffer(4)) }))
  try { console.log(k, await c.map(x => x, [v])); } catch (e) { console.log(k, 'ERR', desc(e)); }
await c.close();
