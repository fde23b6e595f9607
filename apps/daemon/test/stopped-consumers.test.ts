/**
 * Consumers that stop dead (SIGSTOP) with much coming their way: an app iterating `client.imap`
 * over an endless generator, and an app with 10,000 reads of a 512 KiB value in flight. What the
 * daemon holds for each stays bounded (a batch's read-ahead; replies past the socket's high-water
 * mark wait unread, and the client's socket is not read meanwhile), the heartbeat drops it once,
 * and a neighbour's maps and awaited adds go on, correct, on the same workers. Measured: the
 * primary 90 -> 124 MB until the drop, at 10 s pings, for the imap consumer; 92 -> 108 MB for the
 * reader (its 10,000 replies would be 5 GB).
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import type { Client } from '@corepool/client';
import { startApp, type App } from './apps/spawn-app.js';
import { addsBeside } from './support/neighbour.js';
import { until } from './support/wait.js';
import { figure } from './support/figures.js';

const HEARTBEAT_MS = 3_000;
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/**
 * `app` is stopped (SIGSTOP) once it has printed a line `ready` holds; then a neighbour maps and
 * adds until the heartbeat has dropped the app, and `mapsAfter` maps more: each map correct, every
 * add applied, the app dropped once and gone from status, and the primary's peak RSS in that time
 * under 150 MB over what it was at the stop.
 */
async function stoppedBesideNeighbour(
  d: TestDaemon,
  neighbour: Client,
  app: App,
  ready: (l: Record<string, unknown>) => boolean,
  mapsAfter: number,
): Promise<{ before: number; peak: number; maps: number; adds: number }> {
  await app.line(ready);
  process.kill(app.pid, 'SIGSTOP');
  try {
    const before = rssMb(d.pid);
    let peak = before;
    const adds = addsBeside(neighbour.value<number>('n', { initial: 0 }));
    const items = Array.from({ length: 100 }, (_, i) => i);
    let maps = 0;
    while (d.events('heartbeat-timeout').length === 0 || maps < mapsAfter) {
      expect(await neighbour.map((x: number) => x * 2, items)).toEqual(items.map((x) => x * 2));
      maps++;
      if (maps % 5 === 0) peak = Math.max(peak, rssMb(d.pid));
      if (maps > 1e6) break;
    }
    const { adds: made } = await adds.stop();
    expect(d.events('heartbeat-timeout')).toHaveLength(1);
    expect(made).toBeGreaterThan(0);
    expect(await neighbour.value<number>('n').get()).toBe(made);
    expect(peak - before).toBeLessThan(150);
    await until(async () => (await neighbour.status()).clients.length === 1, 10_000, 'the stopped app gone');
    return { before, peak, maps, adds: made };
  } finally {
    process.kill(app.pid, 'SIGCONT');
  }
}

it.runIf(process.platform === 'linux')(
  'a stopped imap consumer is bounded and dropped at the heartbeat; a neighbour goes on',
  async () => {
    await using d = await startDaemon({ workers: 2, args: ['--heartbeat-ms', String(HEARTBEAT_MS)] });
    const neighbour = await d.connect();
    await using app = startApp(d, 'imap-consumer.mjs', {});
    await stoppedBesideNeighbour(d, neighbour, app, (l) => typeof l.results === 'number' && l.results > 5_000, 40);
  },
  120_000,
);

it.runIf(process.platform === 'linux')(
  'a stopped reader with 10,000 reads of a 512 KiB value in flight is bounded and dropped at the heartbeat; a neighbour goes on',
  async () => {
    await using d = await startDaemon({ workers: 2, args: ['--heartbeat-ms', String(HEARTBEAT_MS)] });
    const neighbour = await d.connect();
    await neighbour.value<Uint8Array>('big').set(randomBytes(512 * 1024));
    // Its 10,000 replies whole would be 5 GB; it is stopped with them pouring in, most not yet made.
    await using app = startApp(d, 'get-flooder.mjs', { name: 'big', gets: 10_000 });
    figure('stoppedReader', await stoppedBesideNeighbour(d, neighbour, app, (l) => typeof l.got === 'number' && l.got > 20, 20));
  },
  120_000,
);
