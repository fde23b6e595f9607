/**
 * Daemons of one cluster for the lending tests: real daemon processes, each
 * with its own port and data dir, joined to a cluster of a random name on the
 * given Redis, all with the first one's token (--token-file). Plus the task
 * the lending tests run: it sleeps with Atomics.wait (so throughput depends on
 * the number of workers, not on the machine's cores), appends `<item> <pid>`
 * to a log file (the side channel counting executions), and returns
 * [item, pid].
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type StartOptions, type TestDaemon } from './daemon.js';
import { clusterName, dropCluster } from './redis.js';

export interface TestCluster {
  name: string;
  redisUrl: string;
  daemons: TestDaemon[];
  /** Starts one more daemon in the cluster. */
  add(o?: StartOptions): Promise<TestDaemon>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startCluster(redisUrl: string, count: number, o: StartOptions = {}): Promise<TestCluster> {
  const name = clusterName('lend');
  const daemons: TestDaemon[] = [];
  const add = async (more: StartOptions = {}): Promise<TestDaemon> => {
    const token = daemons[0] === undefined ? [] : ['--token-file', join(daemons[0].dataDir, 'token')];
    const d = await startDaemon({
      ...o,
      ...more,
      args: [...(o.args ?? []), ...(more.args ?? []), '--cluster', redisUrl, '--cluster-name', name, ...token],
    });
    daemons.push(d);
    return d;
  };
  try {
    for (let i = 0; i < count; i++) await add();
  } catch (err) {
    for (const d of daemons) await d[Symbol.asyncDispose]();
    throw err;
  }
  return {
    name,
    redisUrl,
    daemons,
    add,
    async [Symbol.asyncDispose]() {
      // The others first, then the first one (whose data dir holds the shared token).
      for (const d of [...daemons].reverse()) await d[Symbol.asyncDispose]().catch(() => {});
      await dropCluster(redisUrl, name);
    },
  };
}

/** Source of the lending tests' task: sleeps `ms`, logs `<item> <pid>` to `log`, returns [item, pid]. */
export function sleeperSource(log: string, ms: number): string {
  return `(x) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${ms});
    process.getBuiltinModule('node:fs').appendFileSync(${JSON.stringify(log)}, x + ' ' + process.pid + '\\n');
    return [x, process.pid];
  }`;
}

/** Executions logged by sleeperSource: per item, the pids it ran in. */
export function executions(log: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return out; // nothing ran yet
  }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [item, pid] = line.split(' ').map(Number) as [number, number];
    out.set(item, [...(out.get(item) ?? []), pid]);
  }
  return out;
}
