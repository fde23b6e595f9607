import { cli, desc } from './h.mjs';
const c = await cli(); const c2 = await cli();
for (const delay of [0, 10, 50]) {
  let lost = 0; const trials = 6;
  for (let i = 0; i < trials; i++) {
    const n = `lost-${delay}-${i}-${Date.now()}`;
    await c.map(async (x, ctx) => ctx.queue(x).get(), [n], { timeoutMs: 300 }).catch(() => {});
    if (delay) await new Promise(r => setTimeout(r, delay));
    await c2.queue(n).put('item');
    const got = await c2.queue(n).get({ timeoutMs: 1000 }).then(() => true, () => false);
    if (!got) lost++;
  }
  console.log(`put ${delay} ms after the TimeoutError: ${lost}/${trials} items lost`);
}
await c.close(); await c2.close();
