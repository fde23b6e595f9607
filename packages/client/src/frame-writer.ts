/**
 * How the SDK's frames leave its socket. To a daemon on this machine (where
 * they carry the zero masking key, frame-mask.ts) a small frame is written to
 * the socket as one buffer, header and payload together (protocol's
 * ws-frame.ts), as the daemon writes its replies: ws would write it as two,
 * corked, through Node's gather path. To any other host, and every frame of
 * FRAME_COPY_LIMIT bytes or more, frames go through ws. ws's own frames (the
 * hello, pongs, the close frame) stay its own; all reach the socket in the
 * order written.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { FRAME_COPY_LIMIT, SplitMessage, wsFrame, wsFrameHead } from '@corepool/protocol/internal';

import type { Socket } from './connection.js';

/** The function the socket's Outbox writes each frame with; `zeroMask`: this socket's frames carry the zero key. */
export function frameSender(ws: Socket, zeroMask: boolean): (frame: Uint8Array | SplitMessage) => void {
  // The socket ws itself writes to, from its upgrade (a test's stand-in socket has none: ws.send then).
  let raw: Duplex | undefined;
  if (zeroMask) {
    ws.on('upgrade', (res: IncomingMessage) => {
      raw = res.socket;
    });
  }
  return (frame) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (frame instanceof SplitMessage) {
      // A chunk of items: the frame's header and the message's head in one buffer, then the items' bytes as
      // they are, in one writev. ws would mask a copy anyway for another host, so the copy is made here.
      if (raw === undefined) ws.send(Buffer.concat([frame.head, frame.tail]));
      else {
        raw.cork();
        raw.write(wsFrameHead(frame.length, frame.head, true));
        raw.write(frame.tail);
        raw.uncork();
      }
      return;
    }
    if (raw === undefined || frame.length >= FRAME_COPY_LIMIT) ws.send(frame);
    else raw.write(wsFrame(frame, true));
  };
}
