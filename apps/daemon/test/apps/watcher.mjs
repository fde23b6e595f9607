// Watches value `name` until it reaches `stopAt`, breaks out of the loop, and
// counts the push frames the daemon still sends for it, read off the client's
// socket (so a subscription left behind at the daemon shows, not only a listener).
import { createRequire } from 'node:module';
import { connect } from '@corepool/client';
import { Value, decodeMessage } from '@corepool/protocol';
import { finish, nextLine, out, params } from './lines.mjs';

const { name, stopAt } = params;
const require = createRequire(createRequire(import.meta.url).resolve('@corepool/client'));
const WebSocket = require('ws');
let pushes = 0;
const emit = WebSocket.prototype.emit;
WebSocket.prototype.emit = function (event, data, ...rest) {
  if (event === 'message') {
    const decoded = decodeMessage(data);
    for (const m of Array.isArray(decoded) ? decoded : [decoded]) if (m?.type === 'push' && m.name === name) pushes++;
  }
  return emit.call(this, event, data, ...rest);
};

const client = await connect();
const value = client.value(name);
const seen = [];
for await (const v of value.watch()) {
  seen.push(v);
  if (v >= stopAt) break;
}
// A round trip after the unsubscribe: from here on no push may come.
await value.get();
pushes = 0;
out({ broke: true, seen });
await nextLine();
await value.get();
const after = pushes;
await client.close();
finish({ done: true, pushesAfterBreak: after, isValue: value instanceof Value });
