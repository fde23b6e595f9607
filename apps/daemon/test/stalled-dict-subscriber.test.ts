/**
 * Subscribers of a dict that stop reading (a raw socket paused, an SDK app
 * stopped with SIGSTOP) while another app writes it with ever-new keys, each
 * set and then deleted (so the state itself stays empty). Pushes coalesce per
 * key, and keys have no bound: each subscriber's waiting pushes grew with
 * every key written, 1.2 GB of the primary in 45 s for one of them, until the
 * heartbeat or the soft cap dropped it. Now what a dict's pushes hold while
 * they wait is bounded (coalesced-pushes.ts): past it they give way to one
 * `resync` push, and the SDK subscriber reads the dict again, ending with the
 * dict as it is. The raw subscriber, resumed, gets a bounded number of pushes
 * with a resync among them, not one per key written.
 */
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { startApp } from './apps/spawn-app.js';
import { figure } from './support/figures.js';

const KEYS = 40_000;

it('a stalled dict subscriber holds a bounded set of pushes whatever the keys written; resumed, an SDK subscriber has the dict as it is', async () => {
  await using d = await startDaemon({ workers: 1, args: ['--send-high-water', String(64 * 1024)] });
  const writer = await d.connect();
  const dict = writer.dict<number | string>('d');
  await dict.set('first', 1);
  const raw = await d.raw({ hello: true });
  raw.send({ type: 'state', rid: 1, op: 'dict.subscribe', name: 'd' });
  await raw.next((m) => m.type === 'reply' && m.rid === 1);
  raw.ws.pause();
  await using app = startApp(d, 'slow-watcher.mjs', { kind: 'dict', name: 'd', end: 'end' });
  await app.line((l) => l.ready === true);
  process.kill(app.pid, 'SIGSTOP');
  const rssBefore = d.rss();
  let rssMost = rssBefore;
  try {
    const pad = 'k'.repeat(1000);
    for (let n = 0; n < KEYS; n += 500) {
      const writes: Promise<unknown>[] = [];
      for (let i = n; i < n + 500; i++) writes.push(dict.set(`${pad}${i}`, i), dict.delete(`${pad}${i}`));
      await Promise.all(writes);
      rssMost = Math.max(rssMost, d.rss());
    }
    await dict.set('kept', 'yes');
    await dict.delete('first');
    await dict.set('end', 1);
  } finally {
    process.kill(app.pid, 'SIGCONT');
  }
  const out = await app.done();
  expect(out.view).toEqual([
    ['end', 1],
    ['kept', 'yes'],
  ]);

  raw.ws.resume();
  await raw.next((m) => m.type === 'push' && m.resync === true, 30_000);
  const pushes = raw.messages.filter((m) => m.type === 'push' && m.name === 'd');
  // What the kernel's buffers and the socket took before the pushes began to wait (a few MB of them on
  // loopback), then the resync and what followed it: not one push per key written.
  expect(pushes.length).toBeLessThan(KEYS / 4);
  figure('stalledDictSubscriber', {
    keysWritten: KEYS,
    rawPushesDelivered: pushes.length,
    rssGrowthMB: Math.round((rssMost - rssBefore) / 1e6),
  });
  raw.ws.terminate();
}, 120_000);
