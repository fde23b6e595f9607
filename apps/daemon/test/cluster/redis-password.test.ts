/**
 * A new user's path to a cluster on a Redis with a password. A start
 * without the password, or with a wrong one, exits 1 and says the password
 * was refused (Redis answered; it did not fail to answer); with it, two
 * daemons join, share a map, and `daemon status` (text) shows the cluster
 * with the password hidden. No output of the daemons shows the password.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster } from '../support/cluster.js';
import { CLI } from '../support/daemon.js';
import { startRedis, stopAllRedis } from '../support/redis.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-test-'));
afterAll(async () => {
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

/** `corepool daemon start` expected to fail: its exit code and stderr. */
async function failedStart(cluster: string): Promise<{ code: number; stderr: string }> {
  try {
    await run(
      process.execPath,
      [CLI, 'daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', join(dir, 'd'), '--cluster', cluster],
      {
        timeout: 30_000,
        env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
      },
    );
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? '' };
  }
}

describe('a cluster on a Redis with a password', () => {
  it('refuses a missing or wrong password saying so; with it, daemons join and status hides it', async () => {
    const pw = 'pw-s3cret-review';
    const redis = await startRedis(['--save', '', '--appendonly', 'no', '--requirepass', pw]);
    for (const url of [`redis://127.0.0.1:${redis.port}`, `redis://:wrong@127.0.0.1:${redis.port}`]) {
      const r = await failedStart(url);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('E_CLUSTER_UNREACHABLE');
      // Redis answered: the message says the password was refused, not that Redis does not answer.
      expect(r.stderr).toMatch(/refused the password|needs a password/);
      expect(r.stderr).not.toContain('does not answer');
      expect(r.stderr).not.toContain('wrong@');
    }
    await using c = await startCluster(2, { workers: 1, redisUrl: `redis://:${pw}@127.0.0.1:${redis.port}` });
    await c.untilMembers(2);
    const client = await c.daemons[0]!.connect();
    expect(await client.map((x: number) => x + 1, [1, 2, 3, 4], { chunkSize: 1 })).toEqual([2, 3, 4, 5]);
    const { stdout } = await run(process.execPath, [CLI, 'daemon', 'status', '--url', c.daemons[1]!.url, '--token-file', c.tokenFile]);
    expect(stdout).toContain(`cluster ${c.name} on redis://:***@127.0.0.1:${redis.port}`);
    expect(stdout).toContain('daemons (2):');
    for (const d of c.daemons) expect(stdout).toContain(d.url);
    expect(stdout).not.toContain(pw);
    for (const d of c.daemons) expect(d.output.join('\n')).not.toContain(pw);
    // Nor does its command line, once started (what ps shows to every user of the machine).
    for (const d of c.daemons) {
      const cmdline = readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      expect(cmdline).toContain('--cluster redis://:***@');
      expect(cmdline).not.toContain(pw);
    }
  });
});
