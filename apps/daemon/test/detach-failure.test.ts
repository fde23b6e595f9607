/**
 * `daemon start --detach` whose daemon fails to start prints why (what the
 * daemon logged as it failed), not only where its log is; a log that cannot
 * be written stops the start before any worker; lines logged before the
 * workers are forked are not held while a cluster start waits on Redis.
 */
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CLI } from './support/daemon.js';

const run = promisify(execFile);

describe('daemon start --detach that fails', () => {
  it('prints the reason the daemon gave', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'corepool-detach-'));
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const err = (await run(process.execPath, [CLI, 'daemon', 'start', '--detach', '--data-dir', dataDir, '--port', String(port)]).catch(
        (e: unknown) => e,
      )) as { code: number; stderr: string };
      expect(err.code).toBe(1);
      expect(err.stderr).toMatch(/the daemon did not start: .*EADDRINUSE/);
      expect(err.stderr).toContain(join(dataDir, 'daemon.log'));
    } finally {
      taken.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a log file that cannot be written stops the start with a clear error, before any worker is forked', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'corepool-detach-'));
    mkdirSync(join(dataDir, 'daemon.log')); // a directory where the log file goes
    try {
      for (const args of [['--detach'], ['--log-to-file']]) {
        const err = (await run(process.execPath, [CLI, 'daemon', 'start', ...args, '--data-dir', dataDir, '--port', '0']).catch(
          (e: unknown) => e,
        )) as { code: number; stderr: string; stdout: string };
        expect(err.code, args[0]).toBe(1);
        expect(err.stderr, args[0]).toContain(`the log file ${join(dataDir, 'daemon.log')} cannot be written`);
        expect(err.stderr, args[0]).not.toMatch(/Unhandled 'error' event/);
        expect(err.stdout, args[0]).not.toContain('listening');
      }
      // No worker of this data dir was forked (they carry it in their environment).
      expect(workersOf(dataDir)).toEqual([]);
    } finally {
      chmodSync(dataDir, 0o700);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('in cluster mode, a warning logged before Redis answers is written at once, not held until the start ends', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'corepool-detach-'));
    chmodSync(dataDir, 0o755); // tightened and logged before the cluster is joined
    // A "Redis" that accepts and never answers: the start waits on it for its preflight's timeout.
    const mute = createServer(() => {});
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const port = (mute.address() as { port: number }).port;
    const child = spawn(
      process.execPath,
      [CLI, 'daemon', 'start', '--data-dir', dataDir, '--port', '0', '--cluster', `redis://127.0.0.1:${port}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const t0 = Date.now();
      while (!out.includes('made it 0700') && Date.now() - t0 < 10_000 && child.exitCode === null) await sleep(20);
      expect(out).toContain('made it 0700');
      expect(out).not.toContain('start-failed'); // written while the start still waits on Redis
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
      await exited;
      mute.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Pids of the processes whose environment names `dataDir` as their daemon's (its workers'). */
function workersOf(dataDir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(`COREPOOL_DAEMON_DIR=${dataDir}`)) pids.push(Number(name));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}
