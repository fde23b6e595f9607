/**
 * Row 14 of docs/sharing.md's fault suite: a graceful stop (SIGTERM, or `corepool daemon
 * stop`) in the middle of a batch. The daemon side is judged here: running
 * chunks finish and their results reach the client before the close (every
 * item that ran was delivered, none twice), exit code 0, no worker left. The
 * SDK's map either resolves correctly or rejects with a coded error; it never hangs.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeData } from '@corepool/protocol';
import { CLI, startDaemon } from './support/daemon.js';
import { rawMap } from './support/raw-map.js';
import { checkSet } from './support/checks.js';
import { until } from './support/wait.js';
import { figure } from './support/figures.js';

describe('row 14: graceful stop mid-batch', () => {
  for (const how of ['SIGTERM', 'corepool daemon stop'] as const) {
    it(`${how}: running chunks finish and are delivered, exit 0, no worker left, the SDK map settles`, async () => {
      await using t = await startDaemon();
      const log = join(t.dataDir, 'exec.log');
      const client = await t.connect({ reconnectTimeoutMs: 1000 });
      const sock = await t.raw({ hello: true });
      const n = 600;
      const src = `(x) => {
        const end = performance.now() + 5;
        while (performance.now() < end) {}
        process.getBuiltinModule('node:fs').appendFileSync(${JSON.stringify(log)}, x + '\\n');
        return x * 7;
      }`;
      void rawMap(
        sock,
        src,
        Array.from({ length: n }, (_, i) => i),
        { chunkSize: 5, deadlineMs: 60_000 },
      ).catch(() => {});
      const sdk = client
        .map(
          (x: number) => {
            const end = performance.now() + 1;
            while (performance.now() < end) {
              /* busy */
            }
            return x + 1;
          },
          Array.from({ length: 3000 }, (_, i) => i),
        )
        .then(
          (v) => ({ ok: true as const, v }),
          (e: { code?: string }) => ({ ok: false as const, e }),
        );
      await until(() => sock.messages.filter((m) => m.type === 'chunk.result').length >= 5, 10_000, 'results flowing');
      const t0 = performance.now();
      let code: number | null;
      if (how === 'SIGTERM') {
        code = await t.stop();
      } else {
        const cli = spawn(process.execPath, [CLI, 'daemon', 'stop', '--data-dir', t.dataDir], {
          stdio: 'ignore',
          env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
        });
        expect(await new Promise((r) => cli.once('exit', r))).toBe(0);
        code = await t.stop();
      }
      const stopMs = performance.now() - t0;
      expect(code).toBe(0);
      // Its running chunks ended within the grace: no word of one ended by it.
      expect(t.events('stop-grace-over')).toEqual([]);
      expect(t.events('stopping')[0]).toMatchObject({ graceMs: 10_000 });
      expect(await sock.closed).toEqual({ code: 1012, reason: 'E_SHUTTING_DOWN' });
      // Every delivery was right and single; every item that ran was delivered before the close.
      const delivered: [number, { ok: true; value: unknown }][] = [];
      for (const m of sock.messages) {
        if (m.type !== 'chunk.result') continue;
        const values = decodeData(m.payload as Uint8Array) as unknown[];
        for (let j = 0; j < (m.count as number); j++) delivered.push([(m.start as number) + j, { ok: true, value: values[j] }]);
      }
      const r = checkSet(n, delivered, (i) => i * 7);
      expect({ duplicated: r.duplicated, unexpected: r.unexpected, wrong: r.wrong }).toEqual({ duplicated: [], unexpected: [], wrong: [] });
      const ran = new Set(
        readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map(Number),
      );
      const got = new Set(delivered.map(([i]) => i));
      expect([...ran].filter((i) => !got.has(i))).toEqual([]);
      await until(() => t.workerProcesses().length === 0, 5000, 'workers gone');
      // The SDK's map settles on its own: resolved with every value right, or rejected with a code.
      const settled = await Promise.race([sdk, new Promise((r) => setTimeout(() => r('hang'), 20_000))]);
      expect(settled).not.toBe('hang');
      const s = settled as { ok: true; v: number[] } | { ok: false; e: { code?: string } };
      if (s.ok) expect(s.v).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
      else expect(s.e.code).toMatch(/^E_/);
      figure(`row14.${how === 'SIGTERM' ? 'sigterm' : 'cliStop'}`, {
        stopMs: Math.round(stopMs),
        itemsDeliveredBeforeClose: got.size,
        itemsHandedBack: n - got.size,
        sdk: s.ok ? 'resolved' : s.e.code,
      });
    });
  }
});
