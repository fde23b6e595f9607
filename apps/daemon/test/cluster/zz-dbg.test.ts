import { it } from 'vitest';
import { join } from 'node:path';
import { startCluster } from '../support/cluster.js';
import { executions, sleeperSource } from '../support/sleeper.js';
import { rawMap } from '../support/raw-map.js';
for (let k = 0; k < 4; k++)
it('dbg ' + k, async () => {
  await using c = await startCluster(2, { workers: 2 });
  const [a, b] = c.daemons;
  const log = `/tmp/lend-dbg-${k}-${Date.now()}.log`;
  const items = Array.from({ length: 24 }, (_, i) => i);
  const sock = await a!.raw({ hello: true });
  try {
    const o = await rawMap(sock, sleeperSource(log, 250), items, { chunkSize: 1, settleMs: 500, deadlineMs: 15_000 });
    const client = await a!.connect();
    const t = client.map((x: number) => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); return x * 2; }, items, { chunkSize: 1 });
    await Promise.race([t, new Promise((_, rej) => setTimeout(() => rej(new Error('sdk map hung')), 15_000))]);
    console.log('ok', k, o.length);
  } catch (e) {
    console.log('FAIL', k, String(e), 'executed', executions(log).size);
    console.log(JSON.stringify(await a!.status(), null, 0).slice(0, 1500));
    for (const d of [a!, b!]) console.log(d.output.filter((l) => !l.includes('"listening"')).join('\n').slice(0, 4000));
    throw e;
  }
}, 60_000);
