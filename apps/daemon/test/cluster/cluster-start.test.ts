/**
 * `daemon start --cluster`: daemons of one cluster name on one Redis see each
 * other in `status` (JSON and text) and leave it at once on a graceful stop;
 * a Redis that is down or may evict keys stops the start with a coded error
 * and exit 1 (never a hang); bad cluster flags are refused before anything starts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster } from '../support/cluster.js';
import { CLI, startDaemon } from '../support/daemon.js';
import { freePort } from '../support/ports.js';
import { MACHINE_REDIS, startRedis, stopAllRedis } from '../support/redis.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-start-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 'a-cluster-token-of-at-least-32-characters-x', { mode: 0o600 });

afterAll(async () => {
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `corepool daemon start` expecting it to fail; resolves to its exit code and stderr. */
async function failedStart(args: string[]): Promise<{ code: number; stderr: string }> {
  const e = await run(
    process.execPath,
    [CLI, 'daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', join(dir, 'never'), ...args],
    {
      timeout: 20_000,
    },
  ).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => err,
  );
  return { code: e.code, stderr: e.stderr };
}

describe('daemon start --cluster', () => {
  it('joins the daemons of one name: status on either shows both, a stopped one leaves at once', async () => {
    await using c = await startCluster(1, { workers: 1 });
    const a = c.daemons[0]!;
    // Connected before the second daemon joins: its welcome counts 1 worker.
    const early = await a.connect();
    expect(early.workers).toBe(1);
    const b = await c.add({ workers: 2 });
    const name = c.name;
    // Status is as of each daemon's last heartbeat: wait until both have published their URL.
    await c.untilMembers(2);
    const s = await a.status();
    expect(s.cluster?.name).toBe(name);
    expect(s.cluster?.redis).toBe('redis://127.0.0.1:6379');
    const urls = s.cluster!.daemons.map((d) => d.url).sort();
    expect(urls).toEqual([a.url, b.url].sort());
    const db = s.cluster!.daemons.find((d) => d.url === b.url)!;
    expect(db).toMatchObject({ pid: b.pid, workers: 2, alive: true });
    expect(db.busy + db.idle).toBe(2);
    expect(db.id).toContain(`:${b.pid}:`);
    const text = await run(process.execPath, [CLI, 'daemon', 'status', '--url', a.url, '--token-file', c.tokenFile]);
    expect(text.stdout).toContain(`cluster ${name} on redis://127.0.0.1:6379`);
    expect(text.stdout).toContain(b.url);
    // A client's in-flight window counts the cluster's workers, not just its daemon's: 1 + 2, from its
    // welcome for a client that connects now, from its next results for one connected before.
    const client = await a.connect();
    expect(client.workers).toBe(3);
    await client.close();
    await early.map((x: number) => x, [1, 2, 3]);
    expect(early.workers).toBe(3);
    expect(await b.stop()).toBe(0);
    await c.untilMembers(1);
  });

  it('a standalone daemon has no cluster in its status', async () => {
    await using d = await startDaemon({ workers: 1 });
    expect((await d.status()).cluster).toBeUndefined();
  });

  it('an unreachable Redis is E_CLUSTER_UNREACHABLE and exit 1, not a hang', async () => {
    const port = await freePort();
    const r = await failedStart(['--cluster', `redis://:secret-pw@127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_CLUSTER_UNREACHABLE');
    expect(r.stderr).not.toContain('secret-pw');
  });

  it('a Redis that may evict keys is E_CLUSTER_REFUSED with the fix, and exit 1', async () => {
    const own = await startRedis(['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru']);
    const r = await failedStart(['--cluster', own.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_CLUSTER_REFUSED');
    expect(r.stderr).toContain('CONFIG SET maxmemory-policy noeviction');
  });

  it('refuses bad cluster flags before starting anything', async () => {
    expect((await failedStart(['--cluster-name', 'x'])).stderr).toMatch(/--cluster-name needs --cluster.*\(E_BAD_ARGUMENT\)/);
    expect((await failedStart(['--cluster', 'http://127.0.0.1:6379'])).stderr).toContain('redis:// or rediss://');
    expect((await failedStart(['--cluster', MACHINE_REDIS, '--cluster-name', 'a b'])).stderr).toContain('--cluster-name must be');
  });
});
