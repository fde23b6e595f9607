/**
 * The daemon launcher every integration test uses: a real daemon process
 * (port 0, temporary data dir, real workers), started from the built CLI,
 * plus clients connected to it. `await using d = await startDaemon()` cleans
 * up everything.
 */
import { afterAll, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client, type ConnectOptions } from '@corepool/client';
import { PROTOCOL_VERSION, type DaemonStatus } from '@corepool/protocol';
import { generation, readRss } from './processes.js';
import { openRaw, type RawOptions, type RawSocket } from './raw-socket.js';

/** The `corepool` command as users run it (the bundled CLI, bundle/cli.js, through the bin shim). */
export const CLI = fileURLToPath(new URL('../../bin/corepool.js', import.meta.url));

export interface TestDaemon {
  url: string;
  port: number;
  pid: number;
  token: string;
  dataDir: string;
  proc: ChildProcess;
  /** Everything the daemon printed. */
  output: string[];
  /** A client of this daemon, closed with the daemon. */
  connect(options?: ConnectOptions): Promise<Client>;
  /** Worker pids, from `status`. */
  workerPids(): Promise<number[]>;
  /** `status`, through a short-lived client. */
  status(): Promise<DaemonStatus>;
  /** The primary's resident memory in bytes (Linux /proc). */
  rss(): number;
  /** JSON log lines the daemon printed with this `event`. */
  events(event: string): Record<string, unknown>[];
  /** Live processes of this daemon's generation other than the primary (workers, orphans). */
  workerProcesses(): number[];
  /** A raw WebSocket to the daemon, for hostile-client tests. */
  raw(options?: RawOptions): Promise<RawSocket>;
  /** SIGTERM (graceful); resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL the primary only (its workers are left to the orphan guard). */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartOptions {
  workers?: number;
  /** With the daemon's default reserve worker (`--reserve-workers`); without one unless asked. */
  reserve?: boolean;
  /** A fixed port (to restart a daemon where its clients expect it); default 0, any free port. */
  port?: number;
  dataDir?: string;
  args?: string[];
  keepDataDir?: boolean;
  /** The daemon's working directory; default the test runner's. */
  cwd?: string;
  /** Node flags for the primary (e.g. --import of a test guard). */
  nodeArgs?: string[];
  /** An open-files limit for the daemon (`ulimit -n`, soft and hard: Node raises a soft one to the hard one). */
  openFiles?: number;
}

/** Starts a daemon and resolves once it listens. */
export async function startDaemon(o: StartOptions = {}): Promise<TestDaemon> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'corepool-test-'));
  const args = [
    ...(o.nodeArgs ?? []),
    CLI,
    'daemon',
    'start',
    '--port',
    String(o.port ?? 0),
    '--workers',
    String(o.workers ?? 2),
    '--data-dir',
    dataDir,
    // Tests of the pool count its workers exactly (their pids, their slots, what each ran): the
    // reserve worker (on by default) is asked for by the tests about it, and by those that run
    // their faults beside it (`reserve: true`).
    ...(o.reserve === true || o.args?.includes('--reserve-workers') === true ? [] : ['--reserve-workers', '0']),
    ...(o.args ?? []),
  ];
  const [file, argv] =
    o.openFiles === undefined
      ? [process.execPath, args]
      : ['bash', ['-c', `ulimit -n ${o.openFiles} && exec "$0" "$@"`, process.execPath, ...args]];
  const proc = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
    ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
  });
  const output: string[] = [];
  // A start that fails leaves no temporary data dir behind (one this call made).
  const cleanUp = (): void => {
    if (o.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  };
  const listening = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`daemon did not start:\n${output.join('\n')}`));
    }, 30_000);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        output.push(line);
        if (line.includes('"event":"listening"')) {
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
  }).catch((err: unknown) => {
    cleanUp();
    throw err;
  });
  // An explicit --token or --token-file writes no token file.
  const explicit = o.args?.indexOf('--token') ?? -1;
  const tokenFile = o.args?.indexOf('--token-file') ?? -1;
  let token: string;
  try {
    token =
      explicit >= 0
        ? o.args![explicit + 1]!
        : readFileSync(tokenFile >= 0 ? o.args![tokenFile + 1]! : join(dataDir, 'token'), 'utf8').trim();
  } catch (err) {
    proc.kill('SIGKILL'); // never leave a daemon behind a failed start
    cleanUp();
    throw err;
  }
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
    async status() {
      const c = await connect(listening.url, { token });
      try {
        return await c.status();
      } finally {
        await c.close();
      }
    },
    rss() {
      return readRss(listening.pid);
    },
    events(event) {
      const out: Record<string, unknown>[] = [];
      // Log lines are pino's JSON ({"level":…,"time":…,"event":…}); output chunks from stderr may hold several.
      for (const line of output.flatMap((chunk) => chunk.split('\n'))) {
        if (!line.includes(`"event":"${event}"`)) continue;
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed.event === event) out.push(parsed);
        } catch {
          /* partial line */
        }
      }
      return out;
    },
    workerProcesses() {
      return generation(dataDir, listening.pid);
    },
    raw(options = {}) {
      return openRaw(listening.url, options.hello === true ? token : options.hello === false ? undefined : options.hello, options.headers);
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

/** A raw connection to `d` that says hello as client instance `instance` (its kept replies are that instance's). */
export async function helloAs(d: TestDaemon, instance: string): Promise<RawSocket> {
  const h = await d.raw({ hello: false });
  h.send({ type: 'hello', v: PROTOCOL_VERSION, token: d.token, instance });
  await h.next((m) => m.type === 'welcome');
  return h;
}

/**
 * One daemon and one client for a whole test file:
 * `let d: TestDaemon; let client: Client; useDaemon((x) => ({ d, client } = x));`
 */
export function useDaemon(set: (x: { d: TestDaemon; client: Client }) => void, o: StartOptions = {}): void {
  let d: TestDaemon | undefined;
  beforeAll(async () => {
    d = await startDaemon(o);
    set({ d, client: await d.connect() });
  });
  afterAll(async () => {
    await d?.[Symbol.asyncDispose]();
  });
}
