/**
 * Requests cut short by their client are the client's doing: the daemon
 * neither answers nor logs them. Each POST /login whose body never came in
 * full wrote an `http-error` line at error level, unthrottled, for anyone who
 * could reach the port, token or not: 2,000 lines a second, enough to rotate a
 * detached daemon's kept logs away in minutes.
 */
import net from 'node:net';
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';

it('300 logins dropped mid-body write no error line, and the daemon still answers', { timeout: 60_000 }, async () => {
  await using d = await startDaemon({ workers: 1 });
  for (let i = 0; i < 300; i++) {
    await new Promise<void>((resolve) => {
      const s = net.connect(d.port, '127.0.0.1', () => {
        s.write(
          `POST /login HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nabc`,
        );
        setTimeout(() => s.destroy(), 2);
      });
      s.on('error', () => {});
      s.on('close', () => resolve());
    });
  }
  const c = await d.connect();
  expect(await c.value<number>('n', { initial: 0 }).add(1)).toBe(1);
  await new Promise((r) => setTimeout(r, 300));
  expect(d.events('http-error')).toEqual([]);
});
