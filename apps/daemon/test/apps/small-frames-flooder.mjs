// A raw client flooding on `conns` connections, each keeping one frame of `size` value.adds in flight
// (the next sent as its replies come): no connection ever has a backlog, so each ends its turns under
// budget. Prints { running } at its first replies, then { answered } when it stops.
import WebSocket from 'ws';
import { PROTOCOL_VERSION, decodeMessage, encodeMessage } from '@corepool/protocol';
import { addFrame } from './add-frames.mjs';
import { finish, nextLine, out, params } from './lines.mjs';

const { size = 60, conns = 8, name = 'small-frames' } = params;
let answered = 0;
let stopping = false;
let open = conns;

function connection(c) {
  const ws = new WebSocket(process.env.COREPOOL_URL, { perMessageDeflate: false });
  let rid = 0;
  let highest = 0;
  const send = () => {
    ws.send(addFrame(name, size, rid, highest));
    rid += size;
  };
  ws.on('open', () =>
    ws.send(
      encodeMessage({ type: 'hello', v: PROTOCOL_VERSION, token: process.env.COREPOOL_TOKEN, instance: `small-${process.pid}-${c}` }),
    ),
  );
  ws.on('message', (data) => {
    const decoded = decodeMessage(data);
    for (const m of Array.isArray(decoded) ? decoded : [decoded]) {
      if (m.type === 'welcome') send();
      else if (m.type === 'reply') {
        if (answered === 0) out({ running: true });
        answered++;
        highest = Math.max(highest, m.rid);
        if (m.rid % size !== 0) continue;
        if (!stopping) send();
        else {
          ws.close();
          if (--open === 0) {
            out({ answered });
            finish();
          }
        }
      }
    }
  });
}

for (let c = 0; c < conns; c++) connection(c);
await nextLine();
stopping = true;
