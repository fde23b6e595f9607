/**
 * Several daemons of one cluster on this machine, for the cluster tests: each
 * a real daemon process (its own port and data dir) started with `--cluster`
 * on one Redis and one cluster name, all with one token (a token file of the
 * cluster's). `await using c = await startCluster(3)` stops them all and
 * deletes the cluster's keys.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type StartOptions, type TestDaemon } from './daemon.js';
import { clusterName, dropCluster, MACHINE_REDIS } from './redis.js';
import { until } from './wait.js';

export interface TestCluster {
  name: string;
  redisUrl: string;
  token: string;
  tokenFile: string;
  daemons: TestDaemon[];
  /** Starts one more daemon in the cluster. */
  add(o?: StartOptions): Promise<TestDaemon>;
  /** Resolves once every daemon's status lists `n` live daemons (their heartbeats seen). */
  untilMembers(n: number, ms?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ClusterOptions extends StartOptions {
  /** The Redis (default: the machine's). */
  redisUrl?: string;
  /** The cluster name (default: a fresh one). */
  name?: string;
}

/** Starts `n` daemons of one new cluster. */
export async function startCluster(n: number, o: ClusterOptions = {}): Promise<TestCluster> {
  const redisUrl = o.redisUrl ?? MACHINE_REDIS;
  const name = o.name ?? clusterName('c');
  const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-'));
  const tokenFile = join(dir, 'token');
  const token = randomBytes(24).toString('hex');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const daemons: TestDaemon[] = [];
  const c: TestCluster = {
    name,
    redisUrl,
    token,
    tokenFile,
    daemons,
    async add(extra = {}) {
      const d = await startDaemon({
        workers: o.workers ?? 2,
        ...(o.nodeArgs === undefined ? {} : { nodeArgs: o.nodeArgs }),
        ...(o.reserve === undefined ? {} : { reserve: o.reserve }),
        ...extra,
        args: ['--cluster', redisUrl, '--cluster-name', name, '--token-file', tokenFile, ...(o.args ?? []), ...(extra.args ?? [])],
      });
      daemons.push(d);
      return d;
    },
    async untilMembers(count, ms = 15_000) {
      for (const d of daemons) {
        if (d.proc.exitCode !== null || d.proc.signalCode !== null) continue;
        await until(
          async () => (await d.status()).cluster?.daemons.filter((x) => x.alive && x.url !== '').length === count,
          ms,
          `${count} live daemons in the status of ${d.url}`,
        );
      }
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(daemons.map((d) => d[Symbol.asyncDispose]().catch(() => {})));
      await dropCluster(redisUrl, name).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < n; i++) await c.add();
  } catch (err) {
    await c[Symbol.asyncDispose]();
    throw err;
  }
  return c;
}
