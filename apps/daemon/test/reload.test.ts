/**
 * Rolling reload (`corepool daemon reload`, primary/reload.ts) on a real
 * daemon: a batch running across a reload finishes whole on the code it
 * started on while the module file changes on disk, new batches run the new
 * code, every worker is replaced; beside a co-tenant that crashes workers;
 * one reload at a time; a stop ends a reload; a batch that outlasts the
 * grace fails with E_CODE_REPLACED instead of holding the reload; hostile
 * input to the reload request.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { task, type Client } from '@corepool/client';
import { CLI, startDaemon, type TestDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

const exec = promisify(execFile);
const ENV = { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' };

/**
 * A module task that reports the version written in its file, and its worker's pid. With a gate,
 * it waits until the shared Value of that name is true: a batch then outlasts whatever the
 * test does before it opens the gate, however slow the machine.
 */
function writeVersion(file: string, version: string, ms = 20, gate?: string): void {
  const wait =
    gate === undefined
      ? ''
      : `  while (!(await ctx.value(${JSON.stringify(gate)}, { initial: false }).get())) await new Promise((r) => setTimeout(r, 20));\n`;
  writeFileSync(
    file,
    `export async function run(x, ctx) {
${wait}  await new Promise((r) => setTimeout(r, ${ms}));
  return { x, version: ${JSON.stringify(version)}, pid: process.pid };
}
`,
  );
}

type Out = { x: number; version: string; pid: number };

/** `corepool daemon reload` against `d`; its exit code and output. */
async function reloadCli(d: TestDaemon, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [CLI, 'daemon', 'reload', '--data-dir', d.dataDir, ...args], { env: ENV });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs the module on every worker until each has imported it (imports are lazy: a worker that has not would load the file as it is then). */
async function warm(c: Client, file: string, workers: number): Promise<void> {
  await until(
    async () => {
      const out = (await c.map(
        task<number, Out>(file, 'run'),
        Array.from({ length: 12 }, (_, i) => i),
        { chunkSize: 1 },
      )) as Out[];
      return new Set(out.map((o) => o.pid)).size === workers;
    },
    20_000,
    'every worker to import the module',
  );
}

const items = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('daemon reload', () => {
  it('replaces every worker under a running batch: the batch finishes whole on the old code, the next runs the new code', async () => {
    await using d = await startDaemon({ workers: 3 });
    const file = join(d.dataDir, 'versioned.mjs');
    writeVersion(file, 'v1', 30, 'go');
    const c = await d.connect({ name: 'app' });
    const gate = c.value<boolean>('go', { initial: true });
    await gate.set(true);
    await warm(c, file, 3);
    const before = await d.workerPids();
    await gate.set(false); // the batch waits at its gate until the reload has begun
    const running = c.map(task<number, Out>(file, 'run'), items(120), { chunkSize: 2 }) as Promise<Out[]>;
    await until(async () => (await d.status()).runningItems > 0, 10_000, 'the batch running');
    writeVersion(file, 'v2', 30); // deployed while the batch runs
    const reload = reloadCli(d, '--json');
    await until(async () => (await d.status()).reload !== undefined, 20_000, 'the reload running');
    await gate.set(true);
    const old = await running;
    const r = await reload;
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { generation: number; replaced: number; batchesFailed: number; ms: number };
    expect(result).toMatchObject({ generation: 2, replaced: 3, batchesFailed: 0 });
    // Nothing lost or failed, every item on the code the batch started on.
    expect(old.map((o) => o.x)).toEqual(items(120));
    expect(new Set(old.map((o) => o.version))).toEqual(new Set(['v1']));
    const after = await d.workerPids();
    expect(after).toHaveLength(3);
    for (const pid of after) expect(before).not.toContain(pid);
    const s = await d.status();
    expect(s.workers.every((w) => w.generation === 2)).toBe(true);
    expect(s.reload).toBeUndefined();
    const fresh = (await c.map(task<number, Out>(file, 'run'), items(30), { chunkSize: 1 })) as Out[];
    expect(new Set(fresh.map((o) => o.version))).toEqual(new Set(['v2']));
    expect(d.events('reload-done')).toHaveLength(1);
    // Counted and logged as a reload, not as workers past their task budget (--max-tasks-per-worker).
    expect(s.workers.map((w) => w.lastRestart?.cause)).toEqual(['reload', 'reload', 'reload']);
    expect(d.events('worker-exit').map((e) => e.cause)).toEqual(['reload', 'reload', 'reload']);
  });

  it('beside a co-tenant crashing workers: the app loses nothing, its batch stays on one version, the reload completes', async () => {
    await using d = await startDaemon({ workers: 3 });
    const file = join(d.dataDir, 'versioned.mjs');
    writeVersion(file, 'v1', 40, 'go');
    const app = await d.connect({ name: 'app' });
    const hostile = await d.connect({ name: 'hostile' });
    const gate = app.value<boolean>('go', { initial: true });
    await gate.set(true);
    await warm(app, file, 3);
    await gate.set(false);
    const running = app.map(task<number, Out>(file, 'run'), items(120), { chunkSize: 2 }) as Promise<Out[]>;
    await until(async () => (await d.status()).runningItems > 0, 10_000, 'the batch running');
    writeVersion(file, 'v2', 40);
    const reload = reloadCli(d);
    await until(async () => (await d.status()).reload !== undefined, 20_000, 'the reload running');
    // Crashes all through the reload: batches opened now are of the new generation, and crash its workers.
    let crashing = true;
    let crashes = 0;
    const crasher = (async () => {
      while (crashing) {
        const out = await hostile.mapSettled(
          (x: number) => {
            if (x === 0) process.exit(3);
            return x;
          },
          [0, 1, 2],
          { retries: 0, chunkSize: 1 },
        );
        crashes += out.filter((o) => o.status === 'rejected').length;
      }
    })();
    await gate.set(true);
    const old = await running;
    const r = await reload;
    const crashesDuringReload = crashes;
    crashing = false;
    await crasher;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^reloaded: 3 workers replaced in \d+\.\d s, generation 2$/m);
    expect(r.stdout).not.toContain('failed');
    expect(old.map((o) => o.x)).toEqual(items(120));
    expect(new Set(old.map((o) => o.version))).toEqual(new Set(['v1']));
    // The old batch held the last old worker for a while, during which the new workers crashed.
    expect(crashesDuringReload).toBeGreaterThan(0);
    // The app still gets the pool, on the new code, while nothing crashes any more.
    const fresh = (await app.map(task<number, Out>(file, 'run'), items(20))) as Out[];
    expect(new Set(fresh.map((o) => o.version))).toEqual(new Set(['v2']));
  });

  it('one reload at a time: a second one fails with E_RELOAD_RUNNING; a batch past the grace fails with E_CODE_REPLACED', async () => {
    await using d = await startDaemon({ workers: 2 });
    const file = join(d.dataDir, 'slow.mjs');
    writeVersion(file, 'v1', 100);
    const c = await d.connect();
    // A long batch keeps the last old worker; the grace ends it.
    const long = c.map(task<number, Out>(file, 'run'), items(200), { chunkSize: 1 });
    const failure = long.then(
      () => undefined,
      (e: unknown) => e,
    );
    await until(async () => (await d.status()).runningItems > 0, 10_000, 'the batch running');
    const first = reloadCli(d, '--grace-ms', '5000', '--json');
    const sock = await d.raw({ hello: true });
    await until(async () => (await d.status()).reload !== undefined, 10_000, 'the reload running');
    // The first is held by the batch (until the grace ends it): the second asks meanwhile.
    sock.send({ type: 'reload', rid: 9 });
    expect(await sock.next((m) => m.rid === 9)).toMatchObject({ ok: false, error: { code: 'E_RELOAD_RUNNING' } });
    expect((await d.status()).reload).toBeDefined();
    const r = await first;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ generation: 2, replaced: 2, batchesFailed: 1 });
    expect(await failure).toMatchObject({ code: 'E_CODE_REPLACED' });
    // The pool works on the new generation.
    expect(((await c.map(task<number, Out>(file, 'run'), [1])) as Out[])[0]!.x).toBe(1);
    const again = await reloadCli(d, '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ generation: 3, replaced: 2 });
  });

  it('a daemon that stops during a reload ends it with E_SHUTTING_DOWN', async () => {
    const d = await startDaemon({ workers: 2 });
    try {
      const file = join(d.dataDir, 'slow.mjs');
      writeVersion(file, 'v1', 100);
      const c = await d.connect();
      void c.map(task<number, Out>(file, 'run'), items(400), { chunkSize: 1 }).catch(() => {});
      await until(async () => (await d.status()).runningItems > 0, 10_000, 'the batch running');
      const reload = reloadCli(d, '--grace-ms', '600000');
      await until(async () => (await d.status()).reload !== undefined, 10_000, 'the reload running');
      const stopped = d.stop();
      const r = await reload;
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('E_SHUTTING_DOWN');
      expect(await stopped).toBe(0);
    } finally {
      await d[Symbol.asyncDispose]();
    }
  });

  it('hostile input: no token, a wrong token, a malformed or oversized grace', async () => {
    await using d = await startDaemon({ workers: 1 });
    const anon = await d.raw();
    anon.send({ type: 'reload', rid: 1 });
    expect(await anon.closed).toMatchObject({ code: 1008 });
    expect(anon.messages[0]).toMatchObject({ type: 'error', error: { code: 'E_AUTH' } });
    await expect(d.raw({ hello: 'x'.repeat(43) })).rejects.toThrow(/E_AUTH/);
    const sock = await d.raw({ hello: true });
    sock.send({ type: 'reload', rid: 2, graceMs: -5 });
    expect(await sock.next((m) => m.type === 'error' || m.rid === 2)).toMatchObject({ error: { code: 'E_BAD_MESSAGE' } });
    const sock2 = await d.raw({ hello: true });
    sock2.send({ type: 'reload', rid: 3, graceMs: 'soon' });
    expect(await sock2.next((m) => m.type === 'error' || m.rid === 3)).toMatchObject({ error: { code: 'E_BAD_MESSAGE' } });
    const sock3 = await d.raw({ hello: true });
    sock3.send({ type: 'reload', rid: 4, graceMs: 10 ** 12 });
    expect(await sock3.next((m) => m.rid === 4)).toMatchObject({ ok: false, error: { code: 'E_BAD_ARGUMENT' } });
    const bad = await reloadCli(d, '--grace-ms', 'never');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--grace-ms');
    // Nothing of that reloaded or broke the daemon.
    expect((await d.status()).workers[0]!.generation).toBe(1);
  });
});
