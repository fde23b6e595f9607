import { cli } from './h.mjs';
const c = await cli();
const st = async (label) => { const s = await c.status(); console.log(label, 'stateBytes', s.stateBytes, 'replyBytes', s.stateReplyBytes, 'queues', s.queues); };
await st('start');
const tag = 'pg' + Date.now();
for (let round = 0; round < 3; round++) {
  for (let i = 0; i < 10000; i += 500) await Promise.all(Array.from({ length: 500 }, async (_, j) => { const q = c.queue(`${tag}-${round}-${i + j}`); await q.put(i); await q.get(); }));
  await new Promise(r => setTimeout(r, 1500));
  await st('round ' + round + ' unique names');
}
for (let round = 0; round < 2; round++) {
  const q = c.queue(`${tag}-same`);
  for (let i = 0; i < 10000; i += 500) await Promise.all(Array.from({ length: 500 }, async () => { await q.put(1); await q.get(); }));
  await new Promise(r => setTimeout(r, 1500));
  await st('round ' + round + ' same name');
}
await c.close();
const c2 = await cli(); const s = await c2.status(); console.log('after close, new client: stateBytes', s.stateBytes); await c2.close();
