// Opens `connections` clients and leaves `gets` blocked gets (no timeout) on the queue `name` from each,
// then prints { sent } and waits to be killed: an app that dies with its calls still waiting.
import { connect } from '@corepool/client';
import { out, params } from './lines.mjs';

const clients = await Promise.all(Array.from({ length: params.connections }, () => connect()));
for (const c of clients) {
  const q = c.queue(params.name);
  for (let i = 0; i < params.gets; i++) q.get({ timeoutMs: Infinity }).catch(() => {});
}
out({ sent: params.connections * params.gets });
setInterval(() => {}, 1000);
