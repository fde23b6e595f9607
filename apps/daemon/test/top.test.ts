/**
 * `corepool top` in a real terminal (tmux, 120x40): it shows the daemon's
 * workers, its items-done figure moves while a batch runs, `q` exits 0 and
 * gives the terminal back, and when no daemon answers (or it goes away) it
 * says so and keeps reconnecting rather than dying with a stack. Without a
 * terminal it prints one frame; a wrong token is a clear coded error. A top
 * polling beside a working app leaves that app's batch to complete.
 */
import { tmux } from './support/tmux.js';
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

const sessions: string[] = [];
let nextSession = 0;

/** Runs `corepool top ARGS` in a detached 120x40 tmux session; its exit code lands in the returned file. */
function tmuxTop(args: string[]): { name: string; exitFile: string; screen(): string; keys(k: string): void } {
  const name = `corepool-top-${process.pid}-${nextSession++}`;
  const dir = mkdtempSync(join(tmpdir(), 'corepool-top-'));
  const exitFile = join(dir, 'exit');
  const quoted = [process.execPath, CLI, 'top', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // The shell stays after top exits, so the screen it gave back can still be read.
  const cmd = `env COREPOOL_TOKEN= COREPOOL_URL= ${quoted}; echo $? > '${exitFile}'; sleep 60`;
  tmux(name, ['new-session', '-d', '-s', name, '-x', '120', '-y', '40', cmd]);
  sessions.push(name);
  return {
    name,
    exitFile,
    screen: () => tmux(name, ['capture-pane', '-p', '-t', name]),
    keys: (k) => void tmux(name, ['send-keys', '-t', name, k]),
  };
}

afterEach(() => {
  for (const s of sessions.splice(0)) {
    try {
      tmux(s, ['kill-server'], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
});

function itemsDone(screen: string): number | undefined {
  const m = /items done (\d+)/.exec(screen);
  return m === null ? undefined : Number(m[1]);
}

describe('corepool top in tmux', () => {
  it('shows the workers, the items-done figure moves during a batch, a resize redraws, and q exits 0 restoring the screen', async () => {
    await using d = await startDaemon({ workers: 2 });
    const pids = await d.workerPids();
    const t = tmuxTop(['--data-dir', d.dataDir, '--interval-ms', '250']);
    await until(() => t.screen().includes('WORKERS (2)'), 15_000, 'the workers table');
    const first = t.screen();
    for (const pid of pids) expect(first).toContain(String(pid));

    const c = await d.connect({ name: 'top-watched' });
    const batch = c.map(
      (x: number) => {
        const end = Date.now() + 40;
        while (Date.now() < end);
        return x;
      },
      Array.from({ length: 150 }, (_, i) => i),
      { chunkSize: 1 },
    );
    await until(() => (itemsDone(t.screen()) ?? 0) > 0, 20_000, 'items done above 0');
    const seen = itemsDone(t.screen())!;
    await until(() => (itemsDone(t.screen()) ?? 0) > seen, 20_000, 'items done to move');
    expect(t.screen()).toContain('top-watched');
    await batch;

    // A narrower terminal redraws at once without the columns that no longer fit.
    expect(t.screen()).toContain('CHUNKS');
    tmux(t.name, ['resize-window', '-t', t.name, '-x', '50', '-y', '40']);
    await until(() => !t.screen().includes('CHUNKS') && t.screen().includes('WORKERS (2)'), 10_000, 'the narrow redraw');
    expect(
      t
        .screen()
        .split('\n')
        .every((l) => l.length <= 50),
    ).toBe(true);

    t.keys('q');
    await until(() => existsSync(t.exitFile), 10_000, 'top to exit');
    expect(readFileSync(t.exitFile, 'utf8').trim()).toBe('0');
    // The alternate screen is gone: the shell's screen has no trace of top's.
    expect(t.screen()).not.toContain('WORKERS');
  });

  it('no daemon: a clear reconnecting line, no stack; a daemon that goes away: the same, and Ctrl-C exits 0', async () => {
    const none = tmuxTop(['--url', 'ws://127.0.0.1:1', '--token', 'x'.repeat(32), '--interval-ms', '200']);
    await until(() => none.screen().includes('reconnecting (attempt 2)'), 15_000, 'a second reconnect attempt');
    expect(none.screen()).toContain('no daemon answers');
    expect(none.screen()).toContain('E_CONNECTION');
    expect(none.screen()).not.toMatch(/\n\s+at /);

    const d = await startDaemon({ workers: 1 });
    const t = tmuxTop(['--data-dir', d.dataDir, '--interval-ms', '200']);
    await until(() => t.screen().includes('WORKERS (1)'), 15_000, 'the workers table');
    await d[Symbol.asyncDispose]();
    await until(() => t.screen().includes('the daemon went away'), 15_000, 'the went-away line');
    expect(t.screen()).toContain('reconnecting');
    t.keys('C-c');
    await until(() => existsSync(t.exitFile), 10_000, 'top to exit');
    expect(readFileSync(t.exitFile, 'utf8').trim()).toBe('0');
  });
});

describe('corepool top without a terminal', () => {
  const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) =>
      execFile(
        process.execPath,
        [CLI, 'top', ...args],
        { env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' } },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
      ),
    );

  it('prints one frame; a wrong token or a bad interval is one coded line and exit 1', async () => {
    await using d = await startDaemon({ workers: 1 });
    const ok = await run(['--data-dir', d.dataDir]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('WORKERS (1)');
    expect(ok.stdout).not.toContain('\x1b[');
    const wrong = await run(['--url', d.url, '--token', 'y'.repeat(32)]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('E_AUTH');
    expect(wrong.stderr).not.toMatch(/\n\s+at /);
    const bad = await run(['--data-dir', d.dataDir, '--interval-ms', '5']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('E_BAD_ARGUMENT');
  });

  it('a top polling fast beside a working app: the app gets its results', async () => {
    await using d = await startDaemon({ workers: 2 });
    const t = tmuxTop(['--data-dir', d.dataDir, '--interval-ms', '100']);
    await until(() => t.screen().includes('WORKERS (2)'), 15_000, 'the workers table');
    const c = await d.connect({ name: 'beside-top' });
    const items = Array.from({ length: 2000 }, (_, i) => i);
    expect(await c.map((x: number) => x * 3, items, { chunkSize: 10 })).toEqual(items.map((x) => x * 3));
    expect((await d.status()).clients.filter((x) => x.name === 'corepool-top')).toHaveLength(1); // one connection, kept open
  });
});
