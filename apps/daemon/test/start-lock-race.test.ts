/**
 * The start lock's takeover of a stale lock (one left by a daemon killed with
 * -9), with several starters at the same instant: exactly one may hold it.
 * Each starter used to move "the" stale file aside by its path after reading
 * it, and a slower one moved the fresh lock another had just made in its
 * place: two held the lock (5 of 40 rounds of four starters in a review), and
 * two daemons on one LMDB lose acknowledged writes.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const RACER = new URL('./support/lock-racer.mjs', import.meta.url);

interface Outcome {
  got: boolean;
  code?: string;
}

function next(p: ChildProcess, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>): void => {
      if (m.type !== type) return;
      p.off('message', on);
      resolve(m);
    };
    p.on('message', on);
  });
}

it('starters racing for a stale lock: one holds it, the others refuse with E_DAEMON_RUNNING', { timeout: 60_000 }, async () => {
  // A pid that is gone, with a start time no process has: the lock a daemon killed with -9 leaves.
  const gone = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => gone.once('exit', r));
  const stale = `${gone.pid} 1\n`;
  const racers = Array.from({ length: 4 }, () => fork(RACER, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
  const root = mkdtempSync(join(tmpdir(), 'corepool-lock-race-'));
  try {
    await Promise.all(racers.map((p) => next(p, 'ready')));
    const holders: number[] = [];
    for (let round = 0; round < 40; round++) {
      const dir = join(root, String(round));
      mkdirSync(dir);
      writeFileSync(join(dir, 'daemon.lock'), stale);
      const at = Date.now() + 30;
      const outcomes = racers.map((p) => next(p, 'outcome') as Promise<unknown> as Promise<Outcome>);
      for (const p of racers) p.send({ type: 'go', dir, at });
      const got = await Promise.all(outcomes);
      holders.push(got.filter((o) => o.got).length);
      for (const o of got) if (!o.got) expect(o.code).toBe('E_DAEMON_RUNNING');
      await Promise.all(racers.map((p) => (p.send({ type: 'release' }), next(p, 'released'))));
    }
    expect(
      holders.every((n) => n === 1),
      `holders per round: ${holders.join(' ')}`,
    ).toBe(true);
  } finally {
    for (const p of racers) p.kill();
    rmSync(root, { recursive: true, force: true });
  }
});
