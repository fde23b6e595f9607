/** Ports for tests: one that nothing listens on, picked by the OS. */
import { createServer } from 'node:net';

/** A port the OS just handed out and that was closed again: free now, and refusing connections. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
