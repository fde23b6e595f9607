// Durability probe: `lanes` loops each adding 1 to `name`, awaited. Prints
// "a" before sending an add and "k <value>" once it is acknowledged, with
// synchronous writes, until the daemon dies or the test kills this process.
import { writeSync } from 'node:fs';
import { connect } from '@corepool/client';
import { params } from './lines.mjs';

const { name, lanes } = params;
const client = await connect(undefined, { reconnectTimeoutMs: 60_000 });
const value = client.value(name, { initial: 0 });
await value.get();
writeSync(1, 'ready\n');
async function lane() {
  for (;;) {
    writeSync(1, 'a\n');
    const v = await value.add(1);
    writeSync(1, `k ${v}\n`);
  }
}
for (let i = 0; i < lanes; i++) lane().catch(() => {});
