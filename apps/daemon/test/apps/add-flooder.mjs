// A raw client that keeps `frames` frames of `size` value.adds in flight until told to stop, each
// frame sent as the last one's replies come: cheap for this process (its frames are encoded
// once), `size` adds of the primary's work each. Prints { running } at its first replies, then
// { answered } when it stops.
import WebSocket from 'ws';
import { PROTOCOL_VERSION, decodeMessage, encodeMessage } from '@corepool/protocol';
import { addFrame } from './add-frames.mjs';
import { finish, nextLine, out, params } from './lines.mjs';

const { size = 1000, frames = 4, name = 'flood' } = params;
const ws = new WebSocket(process.env.COREPOOL_URL, { perMessageDeflate: false });
let rid = 0;
let answered = 0;
let highest = 0;
let inFlight = 0;
let stopping = false;

function send() {
  inFlight++;
  ws.send(addFrame(name, size, rid, highest));
  rid += size;
}

ws.on('open', () =>
  ws.send(encodeMessage({ type: 'hello', v: PROTOCOL_VERSION, token: process.env.COREPOOL_TOKEN, instance: `flood-${process.pid}` })),
);
ws.on('message', (data) => {
  const decoded = decodeMessage(data);
  for (const m of Array.isArray(decoded) ? decoded : [decoded]) {
    if (m.type === 'welcome') {
      for (let i = 0; i < frames; i++) send();
    } else if (m.type === 'reply') {
      if (answered === 0) out({ running: true });
      answered++;
      highest = Math.max(highest, m.rid);
      if (m.rid % size === 0) {
        inFlight--;
        if (!stopping) send();
        else if (inFlight === 0) {
          out({ answered });
          ws.close();
          finish();
        }
      }
    }
  }
});
await nextLine();
stopping = true;
