/**
 * The daemon's log (issue 12): JSON lines through pino with a level and a
 * time, --log-level filtering (and refusing a bad level with a code), a
 * worker's replacement logged at warn with its cause, a detached daemon's
 * daemon.log rotated by size, and `corepool daemon logs` (-n, -f across a
 * rotation) against a detached daemon. A task flooding its output beside
 * another app leaves the log within its rotation bounds and the other app served.
 */
import { tmux } from './support/tmux.js';
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@corepool/client';
import { CLI, startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' }, timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'corepool-logs-'));
const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** A detached daemon on a fresh data dir, stopped and removed by the returned dispose. */
async function detached(extra: string[]): Promise<{ dir: string; url: string; token: () => string } & AsyncDisposable> {
  const dir = tmp();
  const r = await cli(['daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', dir, '--detach', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  const { url } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { url: string };
  return {
    dir,
    url,
    token: () => readTokenFile(dir),
    async [Symbol.asyncDispose]() {
      await cli(['daemon', 'stop', '--data-dir', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readTokenFile(dir: string): string {
  return readFileSync(join(dir, 'token'), 'utf8').trim();
}

describe('log lines and levels', () => {
  it('at the default level (info): JSON lines with a level and an ISO time, and no debug line', async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect({ name: 'quiet' });
    expect(await c.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    await c.close();
    await d.stop();
    const lines = jsonLines(d.output.join('\n'));
    expect(lines.length).toBeGreaterThanOrEqual(3); // listening, stopping, stopped
    for (const l of lines) {
      expect(['info', 'warn', 'error']).toContain(l.level);
      expect(typeof l.event).toBe('string');
      expect(new Date(String(l.time)).toISOString()).toBe(l.time);
    }
    expect(d.events('client-connected')).toEqual([]);
    expect(d.events('stopped')).toHaveLength(1);
  });

  it('no line holds the token, even at trace level with clients authenticating', async () => {
    const token = 'log-secret-token-0123456789abcdef';
    await using d = await startDaemon({ workers: 1, args: ['--token', token, '--log-level', 'trace'] });
    const c = await d.connect({ name: 'secretive' });
    expect(await c.map((x: number) => x, [1])).toEqual([1]);
    await c.close();
    await until(() => d.events('client-closed').length > 0, 10_000, 'the client-closed line');
    expect(d.output.join('\n')).not.toContain(token);
  });

  it('--log-level debug adds the debug lines (a client connecting and leaving, by name)', async () => {
    await using d = await startDaemon({ workers: 1, args: ['--log-level', 'debug'] });
    const c = await d.connect({ name: 'chatty' });
    await c.close();
    await until(() => d.events('client-closed').some((e) => e.name === 'chatty'), 10_000, 'the client-closed line');
    const connected = d.events('client-connected').find((e) => e.name === 'chatty')!;
    expect(connected.level).toBe('debug');
  });

  it('--log-level error leaves out info lines; the daemon still serves', async () => {
    const dir = tmp();
    const p = spawn(
      process.execPath,
      [CLI, 'daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', dir, '--log-level', 'error'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
      },
    );
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      // No listening line to wait for: the record in the data dir says when it listens.
      await until(() => readdirSync(dir).includes('daemon.json'), 20_000, 'daemon.json');
      const s = await cli(['daemon', 'status', '--data-dir', dir, '--json']);
      expect(s.code, s.stderr).toBe(0);
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
    expect(out).toBe('');
  });

  it('a bad --log-level, --log-max-size or --log-max-files: exit 1 with E_BAD_ARGUMENT, no stack', async () => {
    for (const bad of [
      ['--log-level', 'loud'],
      ['--log-level', ''],
      ['--log-max-size', '10X'],
      ['--log-max-size', '12'],
      ['--log-max-files', '0'],
      ['--log-max-files', '2.5'],
    ]) {
      const r = await cli(['daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', tmp(), ...bad]);
      expect(r.code, bad.join(' ')).toBe(1);
      expect(r.stderr).toContain('E_BAD_ARGUMENT');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('worker replacements say why', () => {
  it('a task that kills its worker, and one past its timeout: a warn line each with the cause, worker id and pid', async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect({ name: 'killer' });
    const pid = (await d.workerPids())[0]!;
    await expect(
      c.map(
        () => {
          process.kill(process.pid, 'SIGKILL');
          return 0;
        },
        [1],
        { retries: 0 },
      ),
    ).rejects.toThrow();
    await until(() => d.events('worker-exit').length > 0, 20_000, 'the worker-exit line');
    const crash = d.events('worker-exit')[0]!;
    expect(crash).toMatchObject({ level: 'warn', pid, signal: 'SIGKILL', cause: 'crash (signal SIGKILL)' });
    expect(typeof crash.id).toBe('number');

    await expect(
      c.map(
        () => {
          for (;;);
        },
        [1],
        { timeoutMs: 300, retries: 0 },
      ),
    ).rejects.toThrow();
    await until(() => d.events('worker-exit').some((e) => e.cause === 'timeout'), 20_000, 'the timeout line');
    expect(d.events('worker-exit').find((e) => e.cause === 'timeout')!.level).toBe('warn');
  });
});

describe('a detached daemon: daemon.log rotated, daemon logs', () => {
  it('rotates at a tiny --log-max-size and keeps --log-max-files rotated files', async () => {
    await using d = await detached(['--log-level', 'debug', '--log-max-size', '1K', '--log-max-files', '2']);
    // Each connection writes two debug lines of ~120 bytes.
    for (let i = 0; i < 40; i++) {
      const c = await connect(d.url, { token: d.token(), name: `rotator-${i}` });
      await c.close();
    }
    // A rotation renames one file after another: a listing taken between two renames lacks one,
    // so the listing is read until it holds the live file and exactly two rotated ones (a third
    // rotated file, never removed, would keep it from settling and fail the test).
    const logFiles = (): string[] =>
      readdirSync(d.dir)
        .filter((f) => f.startsWith('daemon.log'))
        .sort();
    const expected = ['daemon.log', 'daemon.log.1', 'daemon.log.2'];
    await until(() => JSON.stringify(logFiles()) === JSON.stringify(expected), 20_000, 'two rotations, settled');
    const files = logFiles();
    expect(files).toEqual(expected);
    for (const f of files) {
      expect(statSync(join(d.dir, f)).size).toBeLessThan(1024 + 512);
      expect(statSync(join(d.dir, f)).mode & 0o777).toBe(0o600);
    }
    // daemon logs reads back across the rotated files: the newest lines, in order.
    const r = await cli(['daemon', 'logs', '--data-dir', d.dir, '-n', '6']);
    expect(r.code, r.stderr).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines).toHaveLength(6);
    expect(lines.at(-1)).toMatchObject({ event: 'client-closed', name: 'rotator-39' });
  });

  it('daemon logs -n N prints the last N lines as JSON (not a terminal); -n 0 none; a data dir without a log is a coded error', async () => {
    await using d = await detached([]);
    const c = await connect(d.url, { token: d.token() });
    await c.map(
      (x: number) => {
        console.log(`marker-${x}`);
        return x;
      },
      [1, 2, 3],
      { chunkSize: 1 },
    );
    await c.close();
    await until(
      async () => (await cli(['daemon', 'logs', '--data-dir', d.dir, '-n', '100'])).stdout.includes('marker-3'),
      10_000,
      'marker-3',
    );
    const r = await cli(['daemon', 'logs', '--data-dir', d.dir, '-n', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
    expect(jsonLines(r.stdout).every((l) => typeof l.time === 'string' && typeof l.level === 'string')).toBe(true);
    expect((await cli(['daemon', 'logs', '--data-dir', d.dir, '-n', '0'])).stdout).toBe('');
    const none = await cli(['daemon', 'logs', '--data-dir', tmp()]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('E_BAD_ARGUMENT');
    const bad = await cli(['daemon', 'logs', '--data-dir', d.dir, '-n', 'many']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('E_BAD_ARGUMENT');
  });

  it('on a terminal (tmux), daemon logs is pretty: time, level and message, one event a line; --json keeps the raw lines', async () => {
    await using d = await detached([]);
    const screen = (args: string[]): string => {
      const name = `corepool-logs-${process.pid}-${args.length}`;
      const cmd = [process.execPath, CLI, 'daemon', 'logs', '--data-dir', d.dir, '-n', '1', ...args].join(' ');
      tmux(name, ['new-session', '-d', '-s', name, '-x', '200', '-y', '10', `${cmd}; sleep 30`]);
      try {
        let text = '';
        const deadline = Date.now() + 10_000;
        while (!text.includes('listening') && Date.now() < deadline) text = tmux(name, ['capture-pane', '-p', '-t', name]);
        return text;
      } finally {
        tmux(name, ['kill-server']);
      }
    };
    const pretty = screen([]);
    expect(pretty).toMatch(/\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: listening on ws:/);
    expect(pretty).not.toContain('{"level"');
    expect(screen(['--json'])).toContain('{"level":"info"');
  });

  it('daemon logs -f shows lines written after it started, across a rotation', async () => {
    await using d = await detached(['--log-max-size', '1K', '--log-max-files', '3']);
    const f = spawn(process.execPath, [CLI, 'daemon', 'logs', '--data-dir', d.dir, '-f', '-n', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    f.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await until(() => out.includes('\n'), 10_000, 'the first line');
      const c = await connect(d.url, { token: d.token() });
      // ~20 lines of ~150 bytes: the 1K log rotates a few times while -f follows it.
      await c.map(
        (x: number) => {
          console.log(`followed-${x}`);
          return x;
        },
        Array.from({ length: 20 }, (_, i) => i),
        { chunkSize: 1 },
      );
      await c.close();
      await until(() => out.includes('"followed-19"'), 15_000, 'the last line followed');
      expect(readdirSync(d.dir)).toContain('daemon.log.1');
      const seen = jsonLines(out)
        .filter((l) => l.event === 'worker-output')
        .map((l) => l.line);
      expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `followed-${i}`));
    } finally {
      f.kill('SIGINT');
      await new Promise((r) => f.once('exit', r));
    }
  });

  it('daemon logs -f polls without piling listeners on its signal (no MaxListenersExceededWarning)', async () => {
    await using d = await detached([]);
    const f = spawn(process.execPath, [CLI, 'daemon', 'logs', '--data-dir', d.dir, '-f', '-n', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    f.stdout.on('data', (b: Buffer) => (out += b.toString()));
    f.stderr.on('data', (b: Buffer) => (err += b.toString()));
    try {
      await until(() => out.includes('\n'), 10_000, 'the first line');
      // Each poll (every 200 ms) used to leave an abort listener: past 10 of them Node warned of a leak.
      await new Promise((r) => setTimeout(r, 4_000));
    } finally {
      f.kill('SIGINT');
      await new Promise((r) => f.once('exit', r));
    }
    expect(err).not.toContain('MaxListenersExceeded');
    expect(err).toBe('');
  });

  it('a co-tenant flooding its output keeps the rotated log within its bounds, and another app is served', async () => {
    await using d = await detached(['--log-max-size', '64K', '--log-max-files', '2', '--workers', '2']);
    const noisy = await connect(d.url, { token: d.token(), name: 'noisy' });
    const calm = await connect(d.url, { token: d.token(), name: 'calm' });
    const flood = noisy.map(
      (mb: number) => {
        const line = `${'y'.repeat(199)}\n`;
        for (let n = 0; n < mb * 1024 * 1024; n += line.length) process.stdout.write(line);
        return mb;
      },
      [8],
    );
    const items = Array.from({ length: 100 }, (_, i) => i);
    expect(await calm.map((x: number) => x + 1, items, { chunkSize: 5 })).toEqual(items.map((x) => x + 1));
    expect(await flood).toEqual([8]);
    await noisy.close();
    await calm.close();
    // The daemon may still be writing the flood's last lines and rotating: a file listed may be renamed
    // before it is measured (ENOENT), and then the logs are measured again.
    const measure = (): number | undefined => {
      try {
        return readdirSync(d.dir)
          .filter((f) => f.startsWith('daemon.log'))
          .reduce((n, f) => n + statSync(join(d.dir, f)).size, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    };
    let total = measure();
    for (let i = 0; i < 50 && total === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      total = measure();
    }
    // Three files of 64K at most (plus a line each past the limit): 8 MB printed never fills the disk.
    expect(total).toBeLessThan(3 * (64 * 1024 + 4096));
  });
});
