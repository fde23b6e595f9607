/**
 * The worker initializer (`daemon start --init`, worker/initializer.ts) on a
 * real daemon: what it returns is ctx.init and what it puts on globalThis
 * survives the realm guard's restores between apps (one app deleting it does
 * not take it from the other); a reload runs a changed initializer; one that
 * throws, exits or hangs leaves the daemon up and answering, with its workers
 * failing chunks with E_INIT_FAILED rather than restarting in a loop; a
 * missing module is a start error with a code.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, task, type Client } from '@corepool/client';
import { CLI, startDaemon } from './support/daemon.js';

const exec = promisify(execFile);
const ENV = { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' };

/** A directory with an init module written in it (the daemon resolves --init at start). */
function initModule(source: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'corepool-init-'));
  const file = join(dir, 'init.mjs');
  writeFileSync(file, source);
  return { dir, file };
}

const GOOD = (version: string): string => `
export async function init({ pid, slot }) {
  await new Promise((r) => setTimeout(r, 10));
  globalThis.__initDb = { opened: ${JSON.stringify(version)}, pid };
  return { greeting: 'hello-' + ${JSON.stringify(version)}, pid, slot };
}
`;

type Seen = { init: { greeting: string; pid: number; slot: number } | null; db: { opened: string } | null; pid: number };

describe('daemon start --init', () => {
  it('runs once per worker before its first task: ctx.init and its globals reach every app, across realms and a reload', async () => {
    const { dir, file } = initModule(GOOD('v1'));
    try {
      await using d = await startDaemon({ workers: 2, args: ['--init', file] });
      const tasks = join(dir, 'tasks.mjs');
      writeFileSync(
        tasks,
        `export function read(x, ctx) { return { init: ctx.init ?? null, db: globalThis.__initDb ?? null, pid: process.pid }; }
export function vandal(x) { delete globalThis.__initDb; return x; }
`,
      );
      const a = await d.connect({ name: 'a' });
      const b = await d.connect({ name: 'b' });
      const seen = (await a.map(task<number, Seen>(tasks, 'read'), [1, 2, 3, 4, 5, 6], { chunkSize: 1 })) as Seen[];
      for (const s of seen) {
        expect(s.init).toMatchObject({ greeting: 'hello-v1', pid: s.pid });
        expect(s.db).toMatchObject({ opened: 'v1', pid: s.pid });
      }
      // A hostile co-tenant removes the global on every worker; the other app still finds it (realm restore).
      await b.map(task(tasks, 'vandal'), [1, 2, 3, 4, 5, 6], { chunkSize: 1 });
      const after = (await a.map(task<number, Seen>(tasks, 'read'), [1, 2, 3, 4], { chunkSize: 1 })) as Seen[];
      for (const s of after) expect(s.db).toMatchObject({ opened: 'v1' });
      // Source tasks see it too.
      expect(await a.map((x: number, ctx: { init?: unknown }) => (ctx.init as { greeting: string }).greeting, [1])).toEqual(['hello-v1']);
      // A changed initializer takes effect on reload.
      writeFileSync(file, GOOD('v2'));
      await exec(process.execPath, [CLI, 'daemon', 'reload', '--data-dir', d.dataDir], { env: ENV });
      const reloaded = (await a.map(task<number, Seen>(tasks, 'read'), [1, 2, 3, 4], { chunkSize: 1 })) as Seen[];
      for (const s of reloaded) {
        expect(s.init?.greeting).toBe('hello-v2');
        expect(s.db).toMatchObject({ opened: 'v2' });
      }
      const st = await d.status();
      expect(st.workers.every((w) => w.initError === undefined)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker killed after its initializer ran (an item timed out) is replaced by one that runs it again', async () => {
    const { dir, file } = initModule(GOOD('v1'));
    try {
      await using d = await startDaemon({ workers: 1, args: ['--init', file] });
      const c = await d.connect();
      const spin = await c
        .map(
          () => {
            for (;;);
          },
          [1],
          { timeoutMs: 300 },
        )
        .catch((e: unknown) => e);
      expect(spin).toMatchObject({ code: 'E_TIMEOUT' });
      const [seen] = await c.map((x: number, ctx: { init?: unknown }) => ctx.init, [1]);
      expect(seen).toMatchObject({ greeting: 'hello-v1' });
      const s = await d.status();
      expect(s.workerRestarts).toBe(1);
      expect(s.workers[0]!.initError).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a CommonJS initializer: module.exports = { init } or module.exports = function', async () => {
    for (const source of [
      `module.exports = { init: async () => ({ from: 'cjs-object' }) };\n`,
      `module.exports = function () { return { from: 'cjs-function' }; };\n`,
    ]) {
      const dir = mkdtempSync(join(tmpdir(), 'corepool-init-'));
      const file = join(dir, 'init.cjs');
      writeFileSync(file, source);
      try {
        await using d = await startDaemon({ workers: 1, args: ['--init', file] });
        const c = await d.connect();
        const [seen] = await c.map((x: number, ctx: { init?: unknown }) => ctx.init, [1]);
        expect(seen).toEqual({ from: source.includes('{ init') ? 'cjs-object' : 'cjs-function' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('an initializer that throws: chunks fail with E_INIT_FAILED, the daemon answers status, no restart loop', async () => {
    const { dir, file } = initModule(`export default function () { throw new Error('no database here'); }\n`);
    try {
      await using d = await startDaemon({ workers: 2, args: ['--init', file] });
      const c = await d.connect();
      const err = await c.map((x: number) => x, [1, 2, 3]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_INIT_FAILED' });
      expect((err as Error).message).toContain('no database here');
      const s = await d.status();
      expect(s.workers).toHaveLength(2);
      for (const w of s.workers) expect(w.initError).toContain('no database here');
      expect(s.workerRestarts).toBe(0);
      expect(d.events('worker-init-failed').length).toBeGreaterThanOrEqual(2);
      // Still failing clearly on the next batch, with the same workers.
      await expect(c.map((x: number) => x, [1])).rejects.toMatchObject({ code: 'E_INIT_FAILED' });
      expect((await d.status()).workerRestarts).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an initializer that warms up in the background after it returns is not taken for work a task left behind', async () => {
    // ~6 s of CPU on the main thread after init() returned, yielding between slices: no chunk has run yet.
    const { dir, file } = initModule(`export default function () {
  const end = Date.now() + 6000;
  const slice = () => { const t = Date.now() + 50; while (Date.now() < t); if (Date.now() < end) setImmediate(slice); };
  setImmediate(slice);
  return 'warming';
}
`);
    try {
      await using d = await startDaemon({ workers: 1, args: ['--init', file] });
      await new Promise((r) => setTimeout(r, 6_500));
      expect((await d.status()).workerRestarts).toBe(0);
      expect(d.events('worker-leftover-spin')).toEqual([]);
      const c = await d.connect();
      expect(await c.map((x: number) => x + 1, [1])).toEqual([2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('an initializer whose background work holds the main thread for seconds: a map sent meanwhile waits for it, no worker is taken for deaf', async () => {
    // One 4 s stretch that never yields, just after init() returned: the worker cannot read its channel, and gives
    // back the chunks placed on it (its guard thread answers). Taken for deaf and replaced, each replacement ran the
    // initializer again, and the map never ran (a reviewer's case: 16 exits in 30 s).
    const { dir, file } = initModule(`export default function () {
  setTimeout(() => { const end = Date.now() + 4000; while (Date.now() < end); }, 0);
  return 'warming';
}
`);
    try {
      await using d = await startDaemon({ workers: 2, args: ['--init', file] });
      const c = await d.connect();
      expect(await c.map((x: number) => x + 1, [1, 2, 3, 4], { chunkSize: 1, signal: AbortSignal.timeout(30_000) })).toEqual([2, 3, 4, 5]);
      expect(d.events('worker-exit')).toEqual([]);
      expect((await d.status()).workerRestarts).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('an initializer that leaves a global whose keys cannot be read: its slot comes up failed, not restarted in a loop', async () => {
    // The realm guard's baseline walks every global after the initializer; a revoked Proxy makes the walk throw.
    // The worker must die before it says it is ready, as an initializer failure, or it would be replaced forever.
    const { dir, file } = initModule(
      `export function init() { const { proxy, revoke } = Proxy.revocable({}, {}); globalThis.lazyThing = proxy; revoke(); }\n`,
    );
    try {
      await using d = await startDaemon({ workers: 1, args: ['--init', file] });
      const c = await d.connect();
      const err = await c.map((x: number) => x, [1]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_INIT_FAILED' });
      const restarts = (await d.status()).workerRestarts;
      expect(restarts).toBeLessThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 1500));
      expect((await d.status()).workerRestarts).toBe(restarts);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an initializer that also replaces process.nextTick and Promise.prototype.then still fails at once, not by the init timeout', async () => {
    // The worker rethrows its failed start through its own copies of those: through the replacements it would wait silently.
    const { dir, file } = initModule(
      `export function init() {
        const { proxy, revoke } = Proxy.revocable({}, {}); globalThis.lazyThing = proxy; revoke();
        process.nextTick = undefined;
        Promise.prototype.then = function () { return this; };
      }\n`,
    );
    try {
      await using d = await startDaemon({ workers: 1, args: ['--init', file, '--init-timeout-ms', '20000'] });
      const c = await d.connect();
      const err = await c.map((x: number) => x, [1]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_INIT_FAILED' });
      expect((err as Error).message).toContain('exited');
      expect((err as Error).message).not.toContain('did not finish');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an initializer that exits the process: its slot comes up failed instead of restarting in a loop', async () => {
    const { dir, file } = initModule(`export function init() { process.exit(9); }\n`);
    try {
      await using d = await startDaemon({ workers: 1, args: ['--init', file] });
      const c = await d.connect();
      const err = await c.map((x: number) => x, [1]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_INIT_FAILED' });
      expect((err as Error).message).toContain('exited');
      expect((await d.status()).workerRestarts).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an initializer that hangs (a busy loop, or a promise that never settles) times out: E_INIT_FAILED, the daemon answers', async () => {
    for (const source of [`export default function () { for (;;) {} }\n`, `export default () => new Promise(() => {});\n`]) {
      const { dir, file } = initModule(source);
      try {
        await using d = await startDaemon({ workers: 2, args: ['--init', file, '--init-timeout-ms', '500'] });
        const c = await d.connect();
        const err = await c.map((x: number) => x, [1, 2]).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'E_INIT_FAILED' });
        expect((err as Error).message).toContain('did not finish within 500 ms');
        const s = await d.status();
        for (const w of s.workers) expect(w.initError).toContain('did not finish');
        expect(d.events('worker-init-timeout')).toHaveLength(2);
        expect(s.workerRestarts).toBe(2); // one kill per slot, then failed workers that stay
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('a client that connects while the initializers run and vanishes with work queued costs the others nothing', async () => {
    const { dir, file } = initModule('export async function init() { await new Promise((r) => setTimeout(r, 1500)); return {}; }\n');
    const dataDir = mkdtempSync(join(tmpdir(), 'corepool-test-'));
    const port = await freePort();
    const starting = startDaemon({ workers: 2, port, dataDir, args: ['--init', file] });
    try {
      const vanishing = await connectWhileStarting(`ws://127.0.0.1:${port}`, join(dataDir, 'token'), starting);
      // A map of work that would hold both workers for a minute, queued before any worker is up, then the client is gone.
      const abandoned = vanishing.map(
        (ms: number) => {
          const end = Date.now() + ms;
          while (Date.now() < end);
          return ms;
        },
        Array<number>(120).fill(1000),
        { chunkSize: 1 },
      );
      abandoned.catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
      await vanishing.close();
      await expect(abandoned).rejects.toMatchObject({ code: 'E_CLOSED' });
      await using d = await starting;
      const other = await d.connect({ name: 'other' });
      const t0 = Date.now();
      expect(await other.map((x: number) => x + 1, [1, 2, 3, 4])).toEqual([2, 3, 4, 5]);
      // At most the chunks already handed to the workers run on (one item each, a second): not the minute queued.
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(d.events('worker-exit')).toEqual([]);
    } finally {
      await starting.then((d) => d[Symbol.asyncDispose]()).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a client that connects while the initializers run is served: state at once, its map once the workers are up', async () => {
    // The daemon binds its port while its workers boot and says it listens once they are up.
    const { dir, file } = initModule(
      'export async function init() { await new Promise((r) => setTimeout(r, 1500)); return { warm: true }; }\n',
    );
    const dataDir = mkdtempSync(join(tmpdir(), 'corepool-test-'));
    const port = await freePort();
    let listening = false;
    const starting = startDaemon({ workers: 2, port, dataDir, args: ['--init', file] }).then((d) => {
      listening = true;
      return d;
    });
    try {
      const early = await connectWhileStarting(`ws://127.0.0.1:${port}`, join(dataDir, 'token'), starting);
      try {
        expect(listening).toBe(false);
        const hits = early.value('early-hits', { initial: 0 });
        expect(await hits.add(1)).toBe(1);
        expect(listening).toBe(false);
        const mapped = await early.map((x: number, ctx: { init?: unknown }) => [x * 2, ctx.init], [1, 2, 3]);
        expect(mapped).toEqual([
          [2, { warm: true }],
          [4, { warm: true }],
          [6, { warm: true }],
        ]);
      } finally {
        await early.close();
      }
      await using d = await starting;
      // A co-tenant that came the usual way, after the line, shares the same state.
      const late = await d.connect({ name: 'late' });
      expect(await late.value('early-hits', { initial: 0 }).get()).toBe(1);
    } finally {
      await starting.then((d) => d[Symbol.asyncDispose]()).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a missing module, or a bad timeout, is a start error with a code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corepool-init-'));
    try {
      await expect(startDaemon({ args: ['--init', join(dir, 'nope.mjs')] })).rejects.toThrow(
        /E_BAD_ARGUMENT.*nope\.mjs|nope\.mjs.*E_BAD_ARGUMENT/s,
      );
      await expect(startDaemon({ args: ['--init', dir] })).rejects.toThrow(/not a file/);
      await expect(startDaemon({ args: ['--init-timeout-ms', 'x'] })).rejects.toThrow(/--init-timeout-ms/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A port free now (the daemon takes it a moment later). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Connects to a daemon still starting, retrying until its token file and port are there (never after `started` settles). */
async function connectWhileStarting(url: string, tokenFile: string, started: Promise<unknown>): Promise<Client> {
  let settled = false;
  void started.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (;;) {
    if (settled) throw new Error('the daemon said it listens before a client could connect to it');
    try {
      return await connect(url, { token: readFileSync(tokenFile, 'utf8').trim(), name: 'early' });
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
