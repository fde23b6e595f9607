// role "produce": puts { p, i } for i < count on queue `name`.
// role "consume": gets until it takes null, prints what it took.
// role "block": prints { blocking }, then waits in get() until killed.
import { connect } from '@corepool/client';
import { finish, out, params, ready } from './lines.mjs';

const { name, role, p, count } = params;
const client = await connect();
const q = client.queue(name);
if (role === 'block') {
  // A cheap request first, so the connection is up before the test kills this process.
  await q.size();
  out({ blocking: true });
  await q.get();
  out({ unexpected: true });
} else {
  await ready();
  const got = [];
  if (role === 'produce') {
    for (let i = 0; i < count; i++) await q.put({ p, i });
  } else {
    for (;;) {
      const item = await q.get();
      if (item === null) break;
      got.push(item);
    }
  }
  await client.close();
  finish({ done: true, got });
}
