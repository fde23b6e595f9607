/**
 * The one fixture every integration test uses: a real daemon process (port 0,
 * temporary data dir, real workers), started from the built CLI, plus clients
 * connected to it. `await using d = await startDaemon()` cleans up everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client, type ConnectOptions } from '@corepool/client';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export interface TestDaemon {
  url: string;
  port: number;
  pid: number;
  token: string;
  dataDir: string;
  proc: ChildProcess;
  /** Everything the daemon printed. */
  output: string[];
  /** A client of this daemon, closed with the fixture. */
  connect(options?: ConnectOptions): Promise<Client>;
  /** Worker pids, from `status`. */
  workerPids(): Promise<number[]>;
  /** SIGTERM (graceful); resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL the primary only (its workers are left to the orphan guard). */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartOptions {
  workers?: number;
  dataDir?: string;
  args?: string[];
  keepDataDir?: boolean;
}

/** Starts a daemon and resolves once it listens. */
export async function startDaemon(o: StartOptions = {}): Promise<TestDaemon> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'corepool-test-'));
  const args = [CLI, 'daemon', 'start', '--port', '0', '--workers', String(o.workers ?? 2), '--data-dir', dataDir, ...(o.args ?? [])];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' } });
  const output: string[] = [];
  const listening = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${output.join('\n')}`)), 30_000);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        output.push(line);
        if (line.startsWith('{"event":"listening"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { url: string; pid: number });
        }
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}:\n${output.join('\n')}`));
    });
  });
  const token = readFileSync(join(dataDir, 'token'), 'utf8').trim();
  const clients: Client[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const d: TestDaemon = {
    url: listening.url,
    port: Number(new URL(listening.url).port),
    pid: listening.pid,
    token,
    dataDir,
    proc,
    output,
    async connect(options) {
      const c = await connect(listening.url, { token, ...options });
      clients.push(c);
      return c;
    },
    async workerPids() {
      const c = await d.connect();
      const s = await c.status();
      await c.close();
      return s.workers.map((w) => w.pid);
    },
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      if (o.keepDataDir !== true) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return d;
}

/** Resolves when `pred` holds, polling; rejects after `ms`. */
export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** True while a process exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
