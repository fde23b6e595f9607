import { cli, desc } from './h.mjs';
const a = await cli({ name: 'saboteur' }); const b = await cli({ name: 'innocent' });
// A: tasks leave an fs-callback chain behind that kills the worker ~300 ms later, and return at once
console.log('A:', await a.map(() => {
  const fs = require('node:fs'); let n = 0;
  const again = () => fs.readFile('/etc/hostname', () => { if (++n > 30) process.exit(1); else setImmediate(again); });
  // the same with a plain IO callback loop (no timers)
  const io = () => fs.stat('/', () => { if (++n > 3000) process.kill(process.pid, 'SIGKILL'); else io(); });
  again(); io();
  return process.pid;
}, [1, 2], { chunkSize: 1 }).catch(desc));
const r = await b.mapSettled((x) => { const e = Date.now() + 20; while (Date.now() < e); return process.pid; }, Array.from({ length: 40 }, (_, i) => i), { retries: 0, chunkSize: 1 });
const bad = r.filter(o => o.status === 'rejected');
console.log('B:', bad.length, 'of 40 failed', bad[0] ? desc(bad[0].reason) : '');
await a.close(); await b.close();
