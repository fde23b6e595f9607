// One app process of the cluster demo: its own connection to ONE daemon of the
// cluster (the URL it is given), adding 1 to the shared counter N times, each
// add awaited. The token comes from COREPOOL_TOKEN, set by main.js.
// argv: <daemon url> <counter name> <adds> <app number>
import { connect } from '@corepool/client';

const [url, name, adds, id] = /** @type {[string, string, string, string]} */ (process.argv.slice(2));
if (process.send === undefined) throw new Error('app.js runs forked by main.js (it reports over IPC)');
const client = await connect(url, { name: `cluster demo app ${id}` });
const counter = /** @type {import('@corepool/client').Value<number>} */ (client.value(name, { initial: 0 }));
process.send({ type: 'ready' });
await new Promise((resolve) => process.once('message', resolve));

/** @type {number[]} */
const results = [];
for (let i = 0; i < Number(adds); i++) results.push(await counter.add(1));
await client.close();
process.send({ type: 'done', id, url, pid: process.pid, results }, () => process.disconnect());
