/**
 * Processes a task spawns end with their worker (issue 9, item 8): a plain
 * child, a detached one, a shell with children, one that left the worker's
 * tree (double fork), and one spawned with a replaced environment, whether the
 * worker dies by itself, is killed for a timeout, or the daemon stops
 * gracefully. Without it they outlived every worker and the daemon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@corepool/client';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';

/** True once a process has exited (a zombie not yet reaped by init counts as exited). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
  } catch {
    return true;
  }
}

/** Live children of a process, from /proc. */
function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent && !gone(Number(name))) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Spawns one process of kind `k` and returns the pids it wants ended. */
async function spawnKind(k: string): Promise<number[]> {
  const { spawn } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
  if (k === 'plain') return [spawn('sleep', ['1000'], { stdio: 'ignore' }).pid!];
  if (k === 'detached') {
    const p = spawn('sleep', ['1000'], { stdio: 'ignore', detached: true });
    p.unref();
    return [p.pid!];
  }
  if (k === 'shell') return [spawn('sh', ['-c', 'sleep 1000 & sleep 1000 & wait'], { stdio: 'ignore' }).pid!];
  if (k === 'double-fork') {
    // The shell prints its background child's pid and exits: the sleep is reparented away from the worker.
    const sh = spawn('sh', ['-c', 'sleep 1000 >/dev/null 2>&1 & echo $!'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    sh.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => sh.once('close', r));
    return [Number(out.trim())];
  }
  // A replaced environment carries no marker: only the watch of the worker's tree finds it, once it has seen it.
  const p = spawn('/bin/sleep', ['1000'], { stdio: 'ignore', env: {} });
  await new Promise((r) => setTimeout(r, 2500)); // more than the watch period (1 s)
  return [p.pid!];
}

const KINDS = ['plain', 'detached', 'shell', 'double-fork', 'replaced-env'];

describe('processes a task spawns end with its worker', () => {
  let d: TestDaemon;
  let client: Client;
  let scratch: string;
  beforeAll(async () => {
    d = await startDaemon({ workers: 1 });
    client = await d.connect();
    scratch = mkdtempSync(join(tmpdir(), 'corepool-children-'));
  });
  afterAll(async () => {
    await d?.[Symbol.asyncDispose]();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('a worker that exits takes every kind of spawned process with it; another client keeps working', async () => {
    const [worker] = await d.workerPids();
    const pids = (await client.map(spawnKind, KINDS, { chunkSize: 1 })).flat();
    // The shell's two sleeps are its children.
    await until(() => childrenOf(pids[2]!).length === 2, 10_000, 'the shell to start its children');
    pids.push(...childrenOf(pids[2]!));
    expect(pids.filter(gone)).toEqual([]);

    expect(await codeOf(client.map(() => process.exit(3), [1], { retries: 0 }))).toBe('E_WORKER_CRASHED');
    await until(() => pids.every(gone), 10_000, 'the spawned processes to end');
    expect(pids.filter((p) => !gone(p))).toEqual([]);
    expect(gone(worker!)).toBe(true);

    const other = await d.connect();
    expect(await other.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
  });

  it('a worker killed for a timeout takes its spawned processes with it', async () => {
    const file = join(scratch, 'pid');
    const code = await codeOf(
      client.map(
        (f: string) => {
          const { spawn } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
          const { writeFileSync } = process.getBuiltinModule('node:fs') as typeof import('node:fs');
          writeFileSync(f, String(spawn('sleep', ['1000'], { stdio: 'ignore', detached: true }).pid));
          for (;;) {
            /* spin until killed */
          }
        },
        [file],
        { timeoutMs: 1000, retries: 0 },
      ),
    );
    expect(code).toBe('E_TIMEOUT');
    const pid = Number(readFileSync(file, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    await until(() => gone(pid), 10_000, 'the spawned sleep to end');
  });
});

it('a graceful stop ends what tasks spawned', async () => {
  await using d = await startDaemon({ workers: 2 });
  const client = await d.connect();
  const pids = (await client.map(spawnKind, ['plain', 'detached', 'double-fork', 'plain'], { chunkSize: 1 })).flat();
  expect(pids.filter(gone)).toEqual([]);
  await client.close();
  expect(await d.stop()).toBe(0);
  await until(() => pids.every(gone), 5_000, 'the spawned processes to end');
  expect(pids.filter((p) => !gone(p))).toEqual([]);
});
