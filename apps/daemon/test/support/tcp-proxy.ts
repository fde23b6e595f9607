/**
 * A TCP proxy a test puts between a daemon and its Redis, to cut the link the
 * way networks fail: `blackhole` keeps every connection open and drops what
 * crosses it (a pulled cable: nobody is told), `lose-replies` lets what the
 * connecting side sends through and drops what comes back (a command run,
 * its answer lost), `reset` destroys every connection and refuses new ones (a
 * crashed host's RST), `pass` heals it.
 * Its cousin cut-proxy.ts sits in front of a daemon and loses one direction of
 * the connections open at the time while new ones pass (a client's dead link);
 * this one fails the whole link both ways, new connections too (a partition).
 * `bytesUp` counts what the connecting side sent through it (what a client
 * put on the wire).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'blackhole' | 'lose-replies' | 'reset';

export interface TcpProxy {
  port: number;
  url: string;
  mode: ProxyMode;
  /** Bytes forwarded from the connecting side to the target, over every connection so far. */
  readonly bytesUp: number;
  set(mode: ProxyMode): void;
  close(): Promise<void>;
}

/** Listens on a free port and forwards to 127.0.0.1:`targetPort`. */
export async function startProxy(targetPort: number, scheme = 'redis'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let mode: ProxyMode = 'pass';
  let bytesUp = 0;
  const server: Server = createServer((down) => {
    if (mode === 'reset') {
      down.resetAndDestroy();
      return;
    }
    const up = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (d: Buffer) => {
        if (mode !== 'pass' && !(mode === 'lose-replies' && from === down)) return;
        if (from === down) bytesUp += d.length;
        to.write(d);
      });
    };
    forward(down, up);
    forward(up, down);
    const end = (): void => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const proxy: TcpProxy = {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    get bytesUp() {
      return bytesUp;
    },
    set(next: ProxyMode) {
      mode = next;
      if (next !== 'reset') return;
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.destroy();
      }
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
