/**
 * Dict.subscribe across a dropped link: after the reconnect the subscriber
 * hears what changed while it was away (changed and new keys, deleted keys),
 * and nothing it already had: not the entries set before it subscribed, not
 * the ones it was told of, not a key rewritten with the same value.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { useDaemon, type TestDaemon } from './support/daemon.js';
import { startCutProxy } from './support/cut-proxy.js';
import { until } from './support/wait.js';
import type { Client } from '@corepool/client';

let d: TestDaemon;
let writer: Client;
useDaemon((x) => ({ d, client: writer } = x));

describe('Dict.subscribe after a reconnect', () => {
  it('reports only what changed while the link was down, deletes included', async () => {
    const cfg = writer.dict<number>('resync-cfg');
    await cfg.set('pre', 1);
    await using proxy = await startCutProxy(d.url);
    const reader = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    try {
      const events: string[] = [];
      reader.dict<number>('resync-cfg').subscribe((k, v, deleted) => events.push(deleted ? `-${k}` : `${k}=${v}`));
      // The subscription and its baseline are in place once a read behind them is answered.
      await reader.dict<number>('resync-cfg').size();
      await cfg.set('seen', 2);
      await cfg.set('gone', 3);
      await cfg.set('same', 5);
      await until(() => events.length === 3, 10_000, 'the live pushes');
      expect(events).toEqual(['seen=2', 'gone=3', 'same=5']);

      // The link goes silent: these changes reach the daemon, their pushes never reach the reader.
      proxy.hold();
      await cfg.set('seen', 20);
      await cfg.delete('gone');
      await cfg.set('fresh', 4);
      await cfg.set('same', 5);
      await cfg.set('flip', 6);
      await cfg.delete('flip');
      proxy.cut();
      await until(() => events.length >= 6, 20_000, 'the resync after the reconnect');
      // Give a wrong extra report the time to show up: the next live push comes after any of it.
      await cfg.set('after', 7);
      await until(() => events.includes('after=7'), 10_000, 'pushes after the resync');
      expect(events.slice(3, -1).sort()).toEqual(['-gone', 'fresh=4', 'seen=20']);
      expect(events.at(-1)).toBe('after=7');
    } finally {
      await reader.close();
    }
  });
});
