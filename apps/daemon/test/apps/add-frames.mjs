// The frames of value.adds the raw flooder apps send (add-flooder.mjs, small-frames-flooder.mjs).
import { encodeData, encodeMessage } from '@corepool/protocol';

const ONE = encodeData(1);

/**
 * One frame of `size` adds to `name`, request ids `rid + 1` to `rid + size`. The first acknowledges
 * every reply up to `highest`, so the daemon keeps no more of its replies than are in flight.
 */
export function addFrame(name, size, rid, highest) {
  const msgs = [];
  for (let i = 1; i <= size; i++) {
    const m = { type: 'state', rid: rid + i, op: 'value.add', name, a: ONE };
    if (i === 1) m.ack = highest + 1;
    msgs.push(m);
  }
  return encodeMessage(msgs);
}
