/**
 * frame-mask.ts - the masking key of the SDK's frames to a daemon on this machine.
 *
 * RFC 6455 has every client frame XORed with a fresh random key so that a script in a browser
 * cannot choose the bytes an HTTP proxy between it and the server sees (cache poisoning, §10.3).
 * To a daemon on this machine there is no intermediary to fool, and the XOR costs the SDK a copy
 * of every frame and the daemon a pass over it (measured with ws's Sender.frame: 1.05 us of an
 * 8 KB chunk's 1.1, 18.8 us of a 64 KB one). A zero key is a legal key (§5.3), and ws skips the
 * XOR on both ends when it sees one (websockets/ws#1990), so the SDK sends one to local URLs
 * only; a daemon reached over a network keeps random keys.
 */
import { isLocalUrl } from '@corepool/protocol/internal';

/** Fills ws's mask with zeros: ws then sends the frame as it is. */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/** ws's `generateMask` option for a socket to `url`: the zero key to this machine, ws's random keys elsewhere. */
export function maskFor(url: string): ((mask: Buffer) => void) | undefined {
  return isLocalUrl(url) ? zeroMask : undefined;
}
