/**
 * Daemons started at once on one data dir (found by a hostile review of issue
 * 9): all of them used to listen, share one LMDB and lose acknowledged writes.
 * Exactly one may run; the others refuse with a message, and once the
 * survivor has stopped the next start works. A lock whose holder is a zombie
 * (a primary killed with -9 that its parent has not reaped yet) is taken over.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CLI, startDaemon } from './support/daemon.js';
import { alive } from './support/processes.js';

interface Outcome {
  code: number | null;
  out: string;
  pid: number;
}

/** Every daemon this file started: killed at the end whatever the outcome. */
const started: number[] = [];

/** Starts a daemon and resolves once it listens (the process is left running) or exits. */
function start(dataDir: string): Promise<Outcome> {
  const p = spawn(process.execPath, [CLI, 'daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(p.pid!);
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
    for (const o of refused) expect(o.out).toMatch(/already runs.*E_DAEMON_RUNNING/);
    // Stopped (or killed: a lock left behind names a process that is gone and is taken over), the data dir is free again.
    process.kill(running[0]!.pid, 'SIGTERM');
    for (let i = 0; i < 300 && alive(running[0]!.pid); i++) await new Promise((r) => setTimeout(r, 100));
    await using d = await startDaemon({ dataDir, keepDataDir: true, workers: 1 });
    const c = await d.connect();
    expect(await c.value<number>('n', { initial: 0 }).add(1)).toBe(1);
  } finally {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);

it('a start lock held by a zombie (killed, not yet reaped) is taken over', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'corepool-zombie-'));
  // The child exits 300 ms in, by when its parent has exec'd into `sleep`, which never reaps it: a
  // zombie for 30 s (a child that exits before the exec may be reaped by the shell itself).
  const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const zombie = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))));
    const stat = (): string[] => readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1]!.split(' ');
    for (let i = 0; i < 250 && stat()[0] !== 'Z'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(stat()[0]).toBe('Z');
    // As a primary killed with -9 leaves it: its pid and start time (field 22).
    writeFileSync(join(dataDir, 'daemon.lock'), `${zombie} ${stat()[19]}\n`);
    await using d = await startDaemon({ dataDir, keepDataDir: true, workers: 1 });
    const c = await d.connect();
    expect(await c.value<number>('n', { initial: 0 }).add(1)).toBe(1);
  } finally {
    parent.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
