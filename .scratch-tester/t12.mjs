import { connect } from '@corepool/client';
import fs from 'node:fs';
const info = JSON.parse(fs.readFileSync(new URL('./d1.out', import.meta.url), 'utf8').split('\n').find(l => l.includes('"listening"')));
const c = await connect(info.url, { dataDir: info.dataDir });
const sleep = (ms) => new Promise(r => setTimeout(r, ms));
async function* items() {
  for (let i = 0; i < 8; i++) { yield i; await sleep(10); }
  await sleep(300);
  throw new Error('source failed later');
}
try {
  await c.map(async (x) => { await new Promise(r => setTimeout(r, 100)); if (x === 0) throw new Error('task 0 failed'); return x; }, items());
} catch (e) { console.log('map rejected as expected:', e.code, e.message); }
await sleep(1000);
console.log('still alive');
await c.close();
