/**
 * The service files in deploy/ as their supervisors would run them: the
 * systemd unit's Environment and ExecStart, and the Dockerfile's ENV and CMD,
 * each started as written (the `corepool` command being this checkout's, the
 * data dir a temporary one, the port a free one), serving a map, then stopped
 * with the unit's KillSignal / the image's STOPSIGNAL within the unit's
 * TimeoutStopSec: exit 0, which systemd and Docker read as a clean stop.
 * No systemd or Docker engine runs here, so neither supervisor itself is tried.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, task } from '@corepool/client';
import { CLI } from './support/daemon.js';
import { freePort } from './support/ports.js';

const deploy = new URL('../../../deploy/', import.meta.url);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `corepool ARGS` with this checkout's CLI, the environment given, and the port and data dir made the test's own. */
async function serve(
  command: string[],
  env: Record<string, string>,
  stopSignal: NodeJS.Signals,
  stopWithinMs: number,
): Promise<number | null> {
  expect(command[0]).toBe('corepool');
  const dataDir = mkdtempSync(join(tmpdir(), 'corepool-deploy-'));
  dirs.push(dataDir);
  // A module task: bound to 0.0.0.0 (the image), the daemon runs no function source.
  const tasks = join(dataDir, 'tasks.mjs');
  writeFileSync(tasks, 'export const double = (x) => x * 2;\n');
  const start = async (): Promise<{ proc: ChildProcess; exited: Promise<number | null>; port: number; output: () => string }> => {
    const port = await freePort();
    const args = command.slice(1).map((a, i, all) => (all[i - 1] === '--port' ? String(port) : a));
    const proc = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env, COREPOOL_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    return { proc, exited, port, output: () => output };
  };
  let d = await start();
  const { proc, exited } = await (async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const token = env.COREPOOL_TOKEN ?? readFileSync(join(dataDir, 'token'), 'utf8').trim();
        const client = await connect(`ws://127.0.0.1:${d.port}`, { token, connectTimeoutMs: 2_000 });
        expect(await client.map(task<number, number>(tasks, 'double'), [1, 2, 3])).toEqual([2, 4, 6]);
        await client.close();
        return d;
      } catch (err) {
        // Another test's daemon took the free port first (then a client here may even have reached it): another port.
        if (d.proc.exitCode !== null && d.output().includes('EADDRINUSE') && Date.now() < deadline) {
          d = await start();
          continue;
        }
        if (Date.now() > deadline || d.proc.exitCode !== null) {
          d.proc.kill('SIGKILL');
          throw new Error(`${String(err)}\n${d.output()}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  try {
    proc.kill(stopSignal);
    const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), stopWithinMs).unref());
    const code = await Promise.race([exited, timer]);
    expect(code, d.output()).not.toBe('late');
    return code as number | null;
  } finally {
    proc.kill('SIGKILL');
  }
}

describe('deploy/corepool.service', () => {
  const unit = readFileSync(new URL('corepool.service', deploy), 'utf8');
  const setting = (key: string): string[] => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());

  it('runs its ExecStart with its Environment, serves, and stops cleanly on its KillSignal within TimeoutStopSec', async () => {
    const env = Object.fromEntries(setting('Environment').map((e) => e.split('=') as [string, string]));
    expect(env.COREPOOL_DATA_DIR).toBeDefined();
    const exec = setting('ExecStart')[0]!.split(/\s+/);
    expect(exec.slice(0, 2)).toEqual(['/usr/bin/env', 'corepool']);
    const signal = setting('KillSignal')[0] as NodeJS.Signals;
    const code = await serve(exec.slice(1), env, signal, Number(setting('TimeoutStopSec')[0]) * 1000);
    expect(code).toBe(0);
  });
});

describe('deploy/Dockerfile', () => {
  const file = readFileSync(new URL('Dockerfile', deploy), 'utf8');
  const instruction = (name: string): string =>
    /^(\w+) (.*)$/m.exec(file.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[2] ?? '';

  it("runs its CMD with its ENV and a token, serves, and stops cleanly on its STOPSIGNAL within Docker's 10 s", async () => {
    const [key, value] = instruction('ENV').split('=') as [string, string];
    const cmd = JSON.parse(instruction('CMD')) as string[];
    // Bound to 0.0.0.0, the daemon refuses to start without an explicit token: the image's instructions pass one.
    expect(file).toMatch(/COREPOOL_TOKEN/);
    const code = await serve(
      cmd,
      { [key]: value, COREPOOL_TOKEN: 'a-test-token-of-enough-length-0123456789' },
      instruction('STOPSIGNAL') as NodeJS.Signals,
      10_000,
    );
    expect(code).toBe(0);
  });
});
