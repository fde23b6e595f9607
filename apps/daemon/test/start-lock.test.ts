/**
 * Daemons started at once on one data dir (found by a hostile review of issue
 * 9): all of them used to listen, share one LMDB and lose acknowledged writes.
 * Exactly one may run; the others refuse with a message, and the data dir's
 * lock is gone once the survivor stops, so the next start works.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CLI, startDaemon } from './fixture.js';

interface Outcome { code: number | null; out: string; pid: number }

/** Starts a daemon and resolves once it listens (the process is left running) or exits. */
function start(dataDir: string): Promise<Outcome> {
  const p = spawn(process.execPath, [CLI, 'daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve) => {
    const seen = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('"event":"listening"')) resolve({ code: null, out, pid: p.pid! });
    };
    p.stdout.on('data', seen);
    p.stderr.on('data', seen);
    p.once('exit', (code) => resolve({ code, out, pid: p.pid! }));
  });
}

it('three daemons started at once on one data dir: one runs, two refuse', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'corepool-race-'));
  try {
    const outcomes = await Promise.all([start(dataDir), start(dataDir), start(dataDir)]);
    const running = outcomes.filter((o) => o.code === null);
    const refused = outcomes.filter((o) => o.code !== null);
    expect(running).toHaveLength(1);
    expect(refused.map((o) => o.code)).toEqual([1, 1]);
    for (const o of refused) expect(o.out).toMatch(/already runs/);
    process.kill(running[0]!.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 100 && existsSync(join(dataDir, 'daemon.lock')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(dataDir, 'daemon.lock'))).toBe(false);
    // The data dir is free again.
    await using d = await startDaemon({ dataDir, keepDataDir: true, workers: 1 });
    const c = await d.connect();
    expect(await c.value<number>('n', { initial: 0 }).add(1)).toBe(1);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
