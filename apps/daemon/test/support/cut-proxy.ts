/**
 * A TCP proxy in front of a daemon that a test can make lossy: `hold()`
 * swallows what the daemon sends (its replies are written, never read, as
 * when a link dies), `cut()` drops every open connection. New connections
 * pass through normally, so a client reconnects through it.
 */
import net from 'node:net';

export interface CutProxy {
  url: string;
  /** From now on, bytes from the daemon to current connections are dropped. */
  hold(): void;
  /** Destroys every open connection (both sides). */
  cut(): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a proxy on a free port forwarding to `target` (a ws:// URL). */
export async function startCutProxy(target: string): Promise<CutProxy> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<{ a: net.Socket; b: net.Socket; held: boolean }>();
  const server = net.createServer((a) => {
    const b = net.connect(Number(port), hostname);
    // As ws does on its own sockets: with Nagle on, a frame written right after another waited for the
    // client's delayed ACK (~40 ms) and left together with whatever the daemon sent meanwhile.
    a.setNoDelay(true);
    b.setNoDelay(true);
    const pair = { a, b, held: false };
    pairs.add(pair);
    a.on('data', (d) => b.write(d));
    b.on('data', (d) => {
      if (!pair.held) a.write(d);
    });
    const end = (): void => {
      pairs.delete(pair);
      a.destroy();
      b.destroy();
    };
    a.on('close', end).on('error', end);
    b.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = async (): Promise<void> => {
    for (const p of pairs) {
      p.a.destroy();
      p.b.destroy();
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    hold() {
      for (const p of pairs) p.held = true;
    },
    cut() {
      for (const p of pairs) {
        p.a.destroy();
        p.b.destroy();
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
