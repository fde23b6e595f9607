/**
 * The one fixture every integration test uses: a real daemon process (port 0,
 * temporary data dir, real workers), started from the built CLI, plus clients
 * connected to it. `await using d = await startDaemon()` cleans up everything.
 */
import { afterAll, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { connect, type Client, type ConnectOptions } from '@corepool/client';
import { PROTOCOL_VERSION, sourceHash, decodeData, decodeMessage, encodeData, encodeMessage, type DaemonStatus } from '@corepool/protocol';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** The messages in one frame from the daemon (it coalesces the messages of one tick into an array). */
export function decodeFrame(data: Uint8Array): unknown[] {
  const decoded = decodeMessage(data);
  return Array.isArray(decoded) ? decoded : [decoded];
}

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
  /** A fixed port (to restart a daemon where its clients expect it); default 0, any free port. */
  port?: number;
  dataDir?: string;
  args?: string[];
  keepDataDir?: boolean;
  /** Node flags for the primary (e.g. --import of a test guard). */
  nodeArgs?: string[];
  /** An open-files limit for the daemon (`ulimit -n`, soft and hard: Node raises a soft one to the hard one). */
  openFiles?: number;
}

export interface RawOptions {
  headers?: Record<string, string>;
  /** Send hello with the daemon's token (or this token) and wait for welcome. */
  hello?: boolean | string;
}

/** A raw socket: every decoded message, and the close code and reason once closed. */
export interface RawSocket {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  /** Resolves at close: the close code (or HTTP status for a refused upgrade) and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first message matching `pred`. */
  next(pred: (m: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  send(m: unknown): void;
}

/** Starts a daemon and resolves once it listens. */
export async function startDaemon(o: StartOptions = {}): Promise<TestDaemon> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'corepool-test-'));
  const args = [...(o.nodeArgs ?? []), CLI, 'daemon', 'start', '--port', String(o.port ?? 0), '--workers', String(o.workers ?? 2), '--data-dir', dataDir, ...(o.args ?? [])];
  const [file, argv] = o.openFiles === undefined
    ? [process.execPath, args]
    : ['bash', ['-c', `ulimit -n ${o.openFiles} && exec "$0" "$@"`, process.execPath, ...args]];
  const proc = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' } });
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
  }).catch((err: unknown) => {
    cleanUp();
    throw err;
  });
  // An explicit --token or --token-file writes no token file.
  const explicit = o.args?.indexOf('--token') ?? -1;
  const tokenFile = o.args?.indexOf('--token-file') ?? -1;
  let token: string;
  try {
    token = explicit >= 0 ? o.args![explicit + 1]! : readFileSync(tokenFile >= 0 ? o.args![tokenFile + 1]! : join(dataDir, 'token'), 'utf8').trim();
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
      for (const line of output) {
        if (!line.startsWith(`{"event":"${event}"`)) continue;
        try {
          out.push(JSON.parse(line) as Record<string, unknown>);
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

/** The `code` a promise (or a function) rejects or throws with, or undefined if it succeeds. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
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

/** Resident memory of a process in bytes (0 if gone). */
export function readRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Pids (other than `except`) whose environment names this daemon data dir: its workers, and any orphan of it. */
export function generation(dataDir: string, except = -1): number[] {
  const marker = `COREPOOL_DAEMON_DIR=${dataDir}\0`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === except || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker)) pids.push(pid);
    } catch {
      /* gone or not ours */
    }
  }
  return pids;
}

function openRaw(url: string, token: string | undefined, headers: Record<string, string> = {}): Promise<RawSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, headers });
  const messages: Record<string, unknown>[] = [];
  const waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('unexpected-response', (_req, res) => {
      resolve({ code: res.statusCode ?? 0, reason: 'http' });
      ws.terminate();
    });
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('message', (data) => {
    let frame: Record<string, unknown>[];
    try {
      frame = decodeFrame(data as Buffer) as Record<string, unknown>[];
    } catch {
      frame = [{ type: 'undecodable' }];
    }
    for (const m of frame) {
      messages.push(m);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(m)) waiters.splice(i, 1)[0]!.resolve(m);
      }
    }
  });
  const sock: RawSocket = {
    ws,
    messages,
    closed,
    next(pred, ms = 10_000) {
      const hit = messages.find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('raw socket: no matching message')), ms);
        waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
        void closed.then(() => setTimeout(() => reject(new Error('raw socket closed before a matching message')), 50));
      });
    },
    send(m) {
      ws.send(m instanceof Uint8Array || typeof m === 'string' ? m : encodeMessage(m));
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      if (token === undefined) {
        resolve(sock);
        return;
      }
      sock.send({ type: 'hello', v: PROTOCOL_VERSION, token });
      sock.next((m) => m.type === 'welcome' || m.type === 'error').then((m) => (m.type === 'welcome' ? resolve(sock) : reject(new Error(JSON.stringify(m)))), reject);
    });
    void closed.then(() => resolve(sock));
  });
}

/** Percentile of a sample (nearest rank). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * Reports a figure the reliability plan asks for (never a pass/fail criterion):
 * printed, and appended as a JSON line to $COREPOOL_FIGURES if set.
 */
export function figure(name: string, value: unknown): void {
  const line = JSON.stringify({ figure: name, value });
  console.log(line);
  const file = process.env.COREPOOL_FIGURES;
  if (file) appendFileSync(file, `${line}\n`);
}

/**
 * The set checker of the plan (Jepsen `set`): per index, the outcomes delivered.
 * Returns lost / duplicated / unexpected index lists and wrong values.
 */
export function checkSet(
  n: number,
  outcomes: Iterable<[index: number, outcome: { ok: true; value: unknown } | { ok: false; error: { code?: string; index?: number } }]>,
  expected: (i: number) => unknown,
  mayFail: (i: number, code: string) => boolean = () => false,
): { lost: number[]; duplicated: number[]; unexpected: number[]; wrong: number[] } {
  const seen = new Uint32Array(n);
  const unexpected: number[] = [];
  const wrong: number[] = [];
  for (const [i, o] of outcomes) {
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      unexpected.push(i);
      continue;
    }
    seen[i]!++;
    if (o.ok) {
      if (!Object.is(o.value, expected(i)) && JSON.stringify(o.value) !== JSON.stringify(expected(i))) wrong.push(i);
    } else if (o.error.index !== i || typeof o.error.code !== 'string' || !mayFail(i, o.error.code)) {
      wrong.push(i);
    }
  }
  const lost: number[] = [];
  const duplicated: number[] = [];
  for (let i = 0; i < n; i++) {
    if (seen[i] === 0) lost.push(i);
    else if (seen[i]! > 1) duplicated.push(i);
  }
  return { lost, duplicated, unexpected, wrong };
}

/** One delivered outcome, as the daemon sent it. */
export type RawOutcome = [index: number, outcome: { ok: true; value: unknown } | { ok: false; error: { code?: string; index?: number; attempts?: number } }];

let nextRawBatch = 1_000_000;

/**
 * `map` spoken directly on a raw socket, so the checker sees every delivery the
 * daemon makes (the SDK drops duplicates; this does not). Resolves once every
 * index has an outcome, plus `settleMs` to catch late duplicates.
 */
export function rawMap(
  sock: RawSocket,
  source: string,
  items: unknown[],
  o: { chunkSize?: number; timeoutMs?: number; retries?: number; settleMs?: number; deadlineMs?: number } = {},
): Promise<RawOutcome[]> {
  const id = nextRawBatch++;
  const n = items.length;
  const outcomes: RawOutcome[] = [];
  const have = new Uint8Array(n);
  let distinct = 0;
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`rawMap: ${n - distinct} of ${n} items have no outcome after ${o.deadlineMs ?? 60_000} ms`)), o.deadlineMs ?? 60_000);
    const onMessage = (data: Buffer): void => {
      for (const one of decodeFrame(data)) onOne(one);
    };
    const onOne = (one: unknown): void => {
      const m = one as { type: string; id?: number; start: number; count: number; payload: Uint8Array; errors: { index?: number }[]; error?: unknown };
      if (m.id !== id) return;
      if (m.type === 'batch.error') {
        clearTimeout(deadline);
        sock.ws.off('message', onMessage);
        reject(Object.assign(new Error('batch.error'), { wire: m.error }));
        return;
      }
      if (m.type !== 'chunk.result') return;
      const values = decodeData(m.payload) as unknown[];
      const errs = new Map(m.errors.map((e) => [e.index, e]));
      for (let j = 0; j < m.count; j++) {
        const index = m.start + j;
        const e = errs.get(index);
        outcomes.push([index, e === undefined ? { ok: true, value: values[j] } : { ok: false, error: e }]);
        if (index >= 0 && index < n && have[index] === 0) {
          have[index] = 1;
          distinct++;
        }
      }
      if (distinct === n) {
        clearTimeout(deadline);
        setTimeout(() => {
          sock.ws.off('message', onMessage);
          sock.send({ type: 'batch.close', id });
          resolve(outcomes);
        }, o.settleMs ?? 200);
      }
    };
    sock.ws.on('message', onMessage);
    const hash = sourceHash(source); // the daemon checks it, as the SDK computes it
    sock.send({ type: 'batch.open', id, task: { kind: 'source', hash, source }, timeoutMs: o.timeoutMs ?? 0, retries: o.retries ?? 2 });
    const size = o.chunkSize ?? 10;
    for (let start = 0; start < n; start += size) {
      const slice = items.slice(start, start + size);
      sock.send({ type: 'batch.chunk', id, start, count: slice.length, payload: encodeData(slice) });
    }
  });
}
