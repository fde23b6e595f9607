// One app process of the shared-counter demo: its own connection to the
// daemon, adding 1 to the shared counter N times, each add awaited.
// argv: <counter name> <adds> <app number>
import { connect } from '@corepool/client';

const [name, adds, id] = /** @type {[string, string, string]} */ (process.argv.slice(2));
if (process.send === undefined) throw new Error('app.js runs forked by main.js (it reports over IPC)');
const client = await connect(undefined, { name: `shared-counter app ${id}` });
const counter = client.value(name);
process.send({ type: 'ready' });
await new Promise((resolve) => process.once('message', resolve));

const results = [];
const t0 = performance.now();
for (let i = 0; i < Number(adds); i++) results.push(await counter.add(1));
const ms = performance.now() - t0;
await client.close();
process.send({ type: 'done', id, pid: process.pid, ms, results }, () => process.disconnect());
