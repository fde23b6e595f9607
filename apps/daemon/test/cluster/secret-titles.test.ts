/**
 * Secrets never sit in a command line, which every user of the machine can
 * read (ps, /proc/<pid>/cmdline): a detached daemon's child got `--cluster
 * redis://:<password>@...` in its arguments again (its parent masked only its
 * own title), and `--token` typed on status, state or top stayed visible for
 * as long as the command ran (only `daemon start` masked it).
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { CLI } from '../support/daemon.js';
import { startRedis, stopAllRedis } from '../support/redis.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'corepool-secret-titles-'));
afterAll(async () => {
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
const children = (pid: number): number[] =>
  readdirSync(`/proc/${pid}/task`).flatMap((t) =>
    readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
  );

it(
  'a detached daemon in cluster mode has the Redis password in no command line, nor in its workers environment',
  { timeout: 60_000 },
  async () => {
    const pw = 'pw-detached-s3cret';
    const redis = await startRedis(['--save', '', '--appendonly', 'no', '--requirepass', pw]);
    const dataDir = join(dir, 'd');
    const start = spawn(
      process.execPath,
      [
        CLI,
        'daemon',
        'start',
        '--detach',
        '--port',
        '0',
        '--workers',
        '1',
        '--data-dir',
        dataDir,
        '--cluster',
        `redis://:${pw}@127.0.0.1:${redis.port}`,
        '--cluster-name',
        `st-${process.pid}`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' } },
    );
    let stdout = '';
    start.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise((r) => start.once('exit', r));
    // The child starts and masks its own title within a few hundred ms: looked at every few ms from the start on.
    // The command typed (its parent) shows what the user typed until it masks it: that one is theirs, not looked at.
    const seen = new Set<number>();
    for (let done = false; !done;) {
      done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3))]);
      for (const name of readdirSync('/proc')) {
        const p = Number(name);
        if (!Number.isInteger(p) || p === start.pid) continue;
        let line: string;
        try {
          line = cmdline(p);
        } catch {
          continue;
        }
        if (line.includes(dataDir) && line.includes(pw)) seen.add(p);
      }
    }
    expect([...seen], 'processes whose command line held the password').toEqual([]);
    const { pid } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { pid: number };
    try {
      expect(cmdline(pid)).not.toContain(pw);
      const workers = children(pid);
      expect(workers.length).toBeGreaterThan(0);
      for (const w of workers) {
        expect(cmdline(w)).not.toContain(pw);
        expect(readFileSync(`/proc/${w}/environ`, 'latin1')).not.toContain(pw);
      }
      // It did join with the password it was given.
      const status = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--data-dir', dataDir]);
      expect(JSON.parse(status.stdout)).toMatchObject({ cluster: { name: `st-${process.pid}` } });
    } finally {
      await run(process.execPath, [CLI, 'daemon', 'stop', '--data-dir', dataDir]).catch(() => {});
      // Whatever the stop said (a cluster daemon whose Redis is gone may not stop in time), none is left behind.
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* stopped */
      }
    }
  },
);

it('a --token typed on daemon status is masked from its title while it runs', { timeout: 30_000 }, async () => {
  // A port that accepts and never answers: the command waits there, as it would on a stalled daemon.
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const { port } = silent.address() as net.AddressInfo;
  const token = 'typed-token-0123456789abcdef';
  const p = spawn(process.execPath, [CLI, 'daemon', 'status', '--url', `ws://127.0.0.1:${port}`, '--token', token], { stdio: 'ignore' });
  try {
    await until(() => cmdline(p.pid!).includes('***'), 10_000, 'the masked title');
    expect(cmdline(p.pid!)).not.toContain(token);
  } finally {
    p.kill();
    silent.close();
  }
});
