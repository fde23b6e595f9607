// Holds lock `lock`, waits on lock `waitLock` and on queue `queue` (both blocked), and
// subscribes to value `feed`; prints { held, token } and lives on (the test stops it with
// SIGSTOP, then maybe resumes it). After a SIGCONT it prints what became of each.
import { connect } from '@corepool/client';
import { out, params } from './lines.mjs';

const client = await connect({ reconnectTimeoutMs: 120_000 });
client.on('disconnected', (e) => out({ disconnected: e.code }));
client.on('reconnected', () => out({ reconnected: true }));
const grant = await client.lock(params.lock).acquire();
grant.signal.addEventListener('abort', () => out({ lost: grant.signal.reason?.code }));
let pushes = 0;
client.value(params.feed).subscribe(() => pushes++);
if (params.waitLock) {
  client
    .lock(params.waitLock)
    .acquire()
    .then(
      (g) => out({ waitGranted: g.token }),
      (e) => out({ waitFailed: e.code }),
    );
}
if (params.queue) {
  client
    .queue(params.queue)
    .get()
    .then(
      (v) => out({ got: v }),
      (e) => out({ getFailed: e.code }),
    );
}
await client
  .value(params.feed)
  .get()
  .catch(() => {});
out({ held: true, token: grant.token, pid: process.pid });
setInterval(() => out({ alive: true, pushes }), 500);
