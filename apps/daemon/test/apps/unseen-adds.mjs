// Opens `conns` clients; on the test's line, each sends one add of 1n to its own value `big<i>` (set by the
// test before this daemon started, so it has not seen their sizes), together; prints how each ended.
import { connect } from '@corepool/client';
import { finish, nextLine, out, params } from './lines.mjs';

const clients = await Promise.all(Array.from({ length: params.conns }, () => connect()));
out({ ready: true });
await nextLine();
const t0 = performance.now();
const settled = await Promise.allSettled(clients.map((c, i) => c.value(`big${i}`).add(1n)));
const burstMs = Math.round(performance.now() - t0);
for (const c of clients) await c.close();
finish({ burstMs, errors: settled.filter((s) => s.status === 'rejected').map((s) => s.reason.code) });
