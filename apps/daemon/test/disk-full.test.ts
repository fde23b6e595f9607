/**
 * A daemon whose data dir is on a small tmpfs filled from outside (issue 9,
 * item 13): writes fail with E_NO_SPACE and are not applied (reads return the
 * old values, the queue keeps its size), the daemon stays up in both fsync
 * modes, writes work again once space returns, and after a restart the state
 * is exactly the acknowledged writes.
 */
import { describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';

import { startDaemon } from './support/daemon.js';
import { codeOf } from './support/checks.js';
import { fill, mountTmpfs, tmpfsUnavailable, unmount } from './support/tmpfs.js';

const skip = tmpfsUnavailable();

describe.skipIf(skip !== undefined)(`a daemon on a full disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  for (const fsync of ['everysec', 'always']) {
    it(`--fsync ${fsync}: E_NO_SPACE, old values read back, recovery when space returns, exact state after a restart`, async () => {
      const m = mountTmpfs(16);
      if ('skip' in m) throw new Error(m.skip);
      const dataDir = m.dir;
      try {
        {
          await using d = await startDaemon({ workers: 1, dataDir, keepDataDir: true, args: ['--fsync', fsync] });
          const c = await d.connect();
          const v = c.value<unknown>('v');
          const n = c.value<number>('n');
          const q = c.queue<number>('q');
          const dict = c.dict<number>('d');
          await v.set('one');
          for (let i = 0; i < 3; i++) await n.add(1);
          for (const i of [1, 2, 3]) await q.put(i);
          await dict.set('a', 1);

          const filler = fill(dataDir);
          expect(await codeOf(v.set(new Uint8Array(256 * 1024).fill(1)))).toBe('E_NO_SPACE');
          expect(await codeOf(n.add(1))).toBe('E_NO_SPACE');
          expect(await codeOf(q.put(4))).toBe('E_NO_SPACE');
          expect(await codeOf(q.get({ timeoutMs: 0 }))).toBe('E_NO_SPACE');
          expect(await codeOf(dict.set('b', 2))).toBe('E_NO_SPACE');
          // Reads keep working and show only what was acknowledged.
          expect(await v.get()).toBe('one');
          expect(await n.get()).toBe(3);
          expect(await q.size()).toBe(3);
          expect(await dict.get('b')).toBe(undefined);
          expect(d.proc.exitCode).toBe(null);

          rmSync(filler);
          await v.set('two');
          expect(await n.add(1)).toBe(4);
          await q.put(4);
          expect(await q.get()).toBe(1);
          await dict.set('c', 3);
        }
        await using d = await startDaemon({ workers: 1, dataDir, keepDataDir: true, args: ['--fsync', fsync] });
        const c = await d.connect();
        expect(await c.value('v').get()).toBe('two');
        expect(await c.value('n').get()).toBe(4);
        const items: number[] = [];
        for (let i = 0; i < 3; i++) items.push(await c.queue<number>('q').get({ timeoutMs: 0 }));
        expect(items).toEqual([2, 3, 4]);
        expect(await c.dict<number>('d').entries()).toEqual([
          ['a', 1],
          ['c', 3],
        ]);
      } finally {
        unmount(dataDir);
      }
    }, 90_000);
  }
});
