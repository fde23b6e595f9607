/** The `corepool` CLI: status, stop, refusing unsafe binds, the token file. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from '@corepool/client';
import { CLI, startDaemon } from './support/daemon.js';
import { alive } from './support/processes.js';
import { freePort } from './support/ports.js';

const run = promisify(execFile);

describe('corepool daemon', () => {
  it('status --json reports workers, clients and throughput; stop exits 0', async () => {
    await using d = await startDaemon();
    const c = await d.connect({ name: 'status-probe' });
    // A co-tenant's name with escape sequences and a line break: printed, but never as control characters.
    await d.connect({ name: 'evil\x1b[31mRED\x1b[0m\nfake-line' });
    await c.map(
      (x: number) => x,
      Array.from({ length: 100 }, (_, i) => i),
    );
    const { stdout } = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--data-dir', d.dataDir], {
      env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
    });
    const s = JSON.parse(stdout) as {
      pid: number;
      workers: { pid: number; tasksDone: number }[];
      clients: { name: string }[];
      itemsDone: number;
      uptimeMs: number;
    };
    expect(s.pid).toBe(d.pid);
    expect(s.workers).toHaveLength(2);
    expect(s.workers.reduce((a, w) => a + w.tasksDone, 0)).toBeGreaterThanOrEqual(100);
    expect(s.clients.map((x) => x.name)).toContain('status-probe');
    expect(s.itemsDone).toBeGreaterThanOrEqual(100);
    const text = await run(process.execPath, [CLI, 'daemon', 'status', '--url', d.url, '--data-dir', d.dataDir]);
    expect(text.stdout).toContain('workers (2)');
    expect(text.stdout).toContain('evil?[31mRED?[0m?fake-line');
    // eslint-disable-next-line no-control-regex -- what must not reach the operator's terminal
    expect(text.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    const workerPids = s.workers.map((w) => w.pid);
    await run(process.execPath, [CLI, 'daemon', 'stop', '--data-dir', d.dataDir]);
    const code = await new Promise((resolve) => {
      if (d.proc.exitCode !== null) resolve(d.proc.exitCode);
      else d.proc.once('exit', (c) => resolve(c));
    });
    expect(code).toBe(0);
    for (const pid of workerPids) expect(alive(pid)).toBe(false);
  });

  it('the corepool command runs the bundled daemon: its workers run the bundled worker, and the dashboard and /metrics load from it', async () => {
    await using d = await startDaemon({ workers: 1 });
    const [pid] = await d.workerPids();
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(
      fileURLToPath(new URL('../bundle/worker/main.js', import.meta.url)),
    );
    // The CommonJS files run strict, as the ES modules they are built from did: the directive must come first.
    for (const f of ['../bundle/worker/main.js', '../bundle/primary/process-watch-thread.js'])
      expect(readFileSync(new URL(f, import.meta.url), 'utf8').startsWith('"use strict";')).toBe(true);
    const port = new URL(d.url).port;
    const pages = await Promise.all(
      ['/login', '/assets/dashboard.js', '/assets/uplot.js'].map(async (p) => (await fetch(`http://127.0.0.1:${port}${p}`)).status),
    );
    expect(pages).toEqual([200, 200, 200]);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${d.token}` } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('corepool_');
    expect(d.output.join('\n')).not.toContain('metrics unavailable');
  });

  it('connect({ spawn: true }) starts a local daemon in the background when none answers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'corepool-spawn-'));
    const port = await freePort();
    const client = await connect(`ws://127.0.0.1:${port}`, { spawn: true, dataDir, connectTimeoutMs: 20_000 });
    try {
      expect(await client.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
      const pid = (await client.status()).pid;
      expect(alive(pid)).toBe(true);
      await client.close();
      await run(process.execPath, [CLI, 'daemon', 'stop', '--data-dir', dataDir], {
        env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
      });
      expect(alive(pid)).toBe(false);
    } finally {
      await client.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('writes the token with mode 0600', async () => {
    await using d = await startDaemon();
    expect(statSync(join(d.dataDir, 'token')).mode & 0o777).toBe(0o600);
  });

  it('refuses a non-loopback host without an explicit token', async () => {
    const err = await run(
      process.execPath,
      [CLI, 'daemon', 'start', '--host', '0.0.0.0', '--port', '0', '--data-dir', '/tmp/corepool-never'],
      { env: { ...process.env, COREPOOL_TOKEN: '' } },
    ).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toContain('explicit token');
    expect((err as { stderr: string }).stderr).toContain('(E_BAD_ARGUMENT)');
  });

  it('rejects bad flags with a clear message', async () => {
    const err = await run(process.execPath, [CLI, 'daemon', 'start', '--workers', 'many', '--data-dir', '/tmp/corepool-never']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { stderr: string }).stderr).toContain('--workers must be an integer');
    const err2 = await run(
      process.execPath,
      [CLI, 'daemon', 'status', '--url', 'ws://127.0.0.1:1', '--data-dir', '/tmp/corepool-never-x'],
      { env: { ...process.env, COREPOOL_TOKEN: 't' } },
    ).catch((e: { code: number; stderr: string }) => e);
    expect((err2 as { stderr: string }).stderr).toContain('E_CONNECTION');
    // What the argument parser itself refuses is coded too, and JSON on stdout under --json.
    const failed = (args: string[]) =>
      run(process.execPath, [CLI, ...args]).then(
        () => ({ code: 0, stdout: '', stderr: '' }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    for (const args of [['frobnicate'], ['state', 'ls', '--bogus'], ['daemon', 'start', '--fsync', 'sometimes']]) {
      const r = await failed(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/^corepool: .*\(E_BAD_ARGUMENT\)$/m);
    }
    for (const args of [
      ['state', 'rm', '--json', '--yes'],
      ['state', 'get', '--json'],
      ['state', 'ls', '--json', '--bogus'],
    ]) {
      const r = await failed(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(JSON.parse(r.stdout), args.join(' ')).toMatchObject({ error: { code: 'E_BAD_ARGUMENT' } });
    }
    expect((await run(process.execPath, [CLI, '--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("a data dir that cannot be made fails at once (Node's recursive mkdir spins forever under /proc)", async () => {
    const err = await run(process.execPath, [CLI, 'daemon', 'start', '--port', '0', '--data-dir', '/proc/corepool-nope/x'], {
      timeout: 10_000,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toContain('cannot create the data dir');
  });

  it('status and stop take --token, say when no daemon is recorded, and --json reports errors as JSON', async () => {
    const noToken = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--data-dir', '/tmp/corepool-never-y'], {
      env: { ...process.env, COREPOOL_TOKEN: '' },
    }).catch((e: { code: number; stdout: string }) => e);
    expect((noToken as { code: number }).code).toBe(1);
    // A data dir no daemon ever ran on is said as such (as connect() says it), not as a missing token.
    expect(JSON.parse((noToken as { stdout: string }).stdout)).toMatchObject({
      error: { code: 'E_CONNECTION', message: expect.stringContaining('no daemon runs on /tmp/corepool-never-y') },
    });
    // Given a daemon's URL, the missing token is what to fix.
    const urlNoToken = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--data-dir', '/tmp/corepool-never-y'], {
      env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: 'ws://127.0.0.1:1' },
    }).catch((e: { code: number; stdout: string }) => e);
    expect(JSON.parse((urlNoToken as { stdout: string }).stdout)).toMatchObject({
      error: { code: 'E_AUTH', message: expect.stringContaining('no token') },
    });
    const none = await run(process.execPath, [CLI, 'daemon', 'stop', '--data-dir', '/tmp/corepool-never-y', '--token', 't'], {
      env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: 'ws://127.0.0.1:1' },
    }).catch((e: { stderr: string }) => e);
    expect((none as { stderr: string }).stderr).toContain('E_CONNECTION');
    await using d = await startDaemon();
    const { stdout } = await run(process.execPath, [
      CLI,
      'daemon',
      'status',
      '--json',
      '--data-dir',
      '/tmp/corepool-never-y',
      '--url',
      d.url,
      '--token',
      d.token,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ pid: expect.any(Number) });
    // An empty --token, or --token and --token-file together, is refused (E_BAD_ARGUMENT), not resolved some other way.
    const statusJson = async (...args: string[]): Promise<{ code?: string; message?: string }> => {
      const r = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--url', d.url, ...args], {
        env: { ...process.env, COREPOOL_TOKEN: '' },
      }).catch((e: { stdout: string }) => e);
      return (JSON.parse(r.stdout) as { error?: { code?: string; message?: string } }).error ?? {};
    };
    expect((await statusJson('--token', '')).code).toBe('E_BAD_ARGUMENT');
    expect((await statusJson('--token', d.token, '--token-file', join(d.dataDir, 'token'))).code).toBe('E_BAD_ARGUMENT');
    expect((await statusJson('--data-dir', '/tmp/corepool-never-y')).message).toContain('--token-file');
    // COREPOOL_URL may list several daemons for clients; the CLI asks one, so a list needs --url.
    const listed = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--token', d.token], {
      env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: `${d.url}, ws://127.0.0.1:1` },
    }).catch((e: { stdout: string }) => e);
    expect(JSON.parse(listed.stdout)).toMatchObject({ error: { code: 'E_BAD_ARGUMENT', message: expect.stringContaining('--url') } });
    const chosen = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--token', d.token, '--url', d.url], {
      env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: `${d.url}, ws://127.0.0.1:1` },
    });
    expect(JSON.parse(chosen.stdout)).toMatchObject({ pid: d.pid });
    // A URL is checked as the SDK checks it: ws:// or wss://, never an http:// one that ws would take.
    const httpUrl = d.url.replace(/^ws:/, 'http:');
    expect((await statusJson('--token', d.token, '--url', httpUrl)).message).toMatch(/--url must start with ws:\/\/ or wss:\/\//);
    const fromEnv = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--token', d.token], {
      env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: httpUrl },
    }).catch((e: { stdout: string }) => e);
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({
      error: { code: 'E_BAD_ARGUMENT', message: expect.stringContaining('COREPOOL_URL') },
    });
    const { stdout: version } = await run(process.execPath, [CLI, '--version']);
    expect(version.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('a second daemon on the same data dir refuses to start', async () => {
    await using d = await startDaemon();
    const err = await run(process.execPath, [CLI, 'daemon', 'start', '--port', '0', '--data-dir', d.dataDir]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { stderr: string }).stderr).toContain('already runs');
  });
});
