// A subscriber, a dict subscriber and an onProgress callback that throw: the
// errors must surface as uncaught exceptions (counted here) while the client
// keeps answering every request. Prints { uncaught, value, dictKeys, mapped, after }.
import { connect } from '@corepool/client';
import { finish, params } from './lines.mjs';

let uncaught = 0;
process.on('uncaughtException', () => uncaught++);

const client = await connect();
const v = client.value(params.name, { initial: 0 });
const d = client.dict(params.name);
let calls = 0;
v.subscribe(() => {
  calls++;
  throw new Error('subscriber bug');
});
d.subscribe(() => {
  throw new Error('dict subscriber bug');
});
await v.get();
// Several replies and pushes ride in one frame: none may be lost to a throw.
const adds = await Promise.all(Array.from({ length: 20 }, () => v.add(1)));
await Promise.all([d.set('a', 1), d.set('b', 2)]);
const mapped = await client.map((x) => x * 2, [1, 2, 3, 4, 5, 6], {
  chunkSize: 1,
  onProgress: () => {
    throw new Error('progress bug');
  },
});
const after = await v.add(1);
await new Promise((r) => setTimeout(r, 50));
const result = { uncaught, calls, adds: adds.length, value: await v.get(), dictKeys: await d.keys(), mapped, after };
await client.close();
finish(result);
