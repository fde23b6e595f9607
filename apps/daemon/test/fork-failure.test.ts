/**
 * A fork that fails is retried and reported, never a crash (issue 9, item
 * 10): with the primary out of descriptors, a worker's replacement cannot be
 * forked (EMFILE). The primary keeps serving its clients with the workers it
 * has, logs worker-fork-failed, and refills the slot once descriptors are free.
 * The descriptor limit of the running primary is lowered with prlimit(1), so
 * no descriptor is free whatever the server does with its sockets.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

/** The soft and hard descriptor limits of a process. */
function nofile(pid: number): [string, string] {
  const m = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))!;
  return [m[1]!, m[2]!];
}

function setNofile(pid: number, soft: string, hard: string): void {
  execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${soft}:${hard}`]);
}

it('out of descriptors, a killed worker is not replaced until they are free: the primary stays up and answers', async () => {
  await using d = await startDaemon({ workers: 2 });
  const client = await d.connect();
  expect(await client.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
  const [soft, hard] = nofile(d.pid);
  const [victim, survivor] = await d.workerPids();

  // Descriptors 0-2 are always open: a soft limit of 3 leaves no number free for a new one.
  setNofile(d.pid, '3', hard);
  try {
    process.kill(victim!, 'SIGKILL');
    await until(() => d.events('worker-fork-failed').length >= 2, 20_000, 'failed forks to be retried');
    expect(d.events('worker-fork-failed')[0]).toMatchObject({ code: 'EMFILE', attempt: 1 });
    // Still up, still answering on the connection it has, with the one worker it has.
    expect(d.proc.exitCode).toBe(null);
    const status = await client.status();
    expect(status.workers.map((w) => w.pid)).toEqual([survivor]);
    expect(await client.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
  } finally {
    // A primary that died (the bug this guards against) has no limit to restore: let the assertion speak.
    if (d.proc.exitCode === null && d.proc.signalCode === null) setNofile(d.pid, soft, hard);
  }
  await until(async () => (await client.status()).workers.length === 2, 20_000, 'the slot to be refilled');
  const pids = (await client.status()).workers.map((w) => w.pid);
  expect(pids).toContain(survivor);
  expect(pids).not.toContain(victim);
  expect(
    await client.map(
      (x: number) => x - 1,
      Array.from({ length: 20 }, (_, i) => i),
      { chunkSize: 1 },
    ),
  ).toEqual(Array.from({ length: 20 }, (_, i) => i - 1));
  expect(d.proc.exitCode).toBe(null);
}, 90_000);
