/**
 * Redis for the cluster tests: a redis-server of the test's own (on a free
 * port, in a temp dir, with the settings under test) where a test kills,
 * pauses, restarts or flushes it; the machine's Redis on 6379 otherwise, under
 * a cluster name of the test's own whose keys it deletes afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/** The machine's Redis, which every test may use but none may stop or flush. */
export const MACHINE_REDIS = 'redis://127.0.0.1:6379';

/** A redis-server this test started. */
export interface OwnRedis {
  port: number;
  url: string;
  dir: string;
  /** The running process (replaced by restart). */
  child: ChildProcess;
  /** Starts it again on the same port, dir and arguments (after a kill or stop); resolves once it accepts connections. */
  restart(): Promise<void>;
  /** kill -9, resolved once it exited. */
  kill(): Promise<void>;
}

const started = new Set<OwnRedis>();

function launch(port: number, dir: string, args: string[]): Promise<ChildProcess | undefined> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve(child);
    });
    child.once('exit', () => resolve(undefined));
  });
}

/**
 * Starts a redis-server on a free port (another one if that port was taken
 * meanwhile), persistence off unless `args` turn it on; resolves once it is ready.
 */
export async function startRedis(args: string[] = ['--save', '', '--appendonly', 'no']): Promise<OwnRedis> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePort(); // another process may take it before redis-server binds: then try again
    const dir = mkdtempSync(join(tmpdir(), 'corepool-redis-'));
    const child = await launch(port, dir, args);
    if (child === undefined) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const own: OwnRedis = {
      port,
      url: `redis://127.0.0.1:${port}`,
      dir,
      child,
      async restart() {
        for (let i = 0; i < 50; i++) {
          const c = await launch(port, dir, args);
          if (c !== undefined) {
            own.child = c;
            return;
          }
          await new Promise((r) => setTimeout(r, 100)); // the port may linger a moment after a kill
        }
        throw new Error(`could not restart the redis-server on ${port}`);
      },
      async kill() {
        const c = own.child;
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await exited;
      },
    };
    started.add(own);
    return own;
  }
  throw new Error('could not start a redis-server on a free port');
}

/** Kills every redis-server this test file started and removes their dirs (for afterAll). */
export async function stopAllRedis(): Promise<void> {
  for (const own of started) {
    await own.kill();
    rmSync(own.dir, { recursive: true, force: true });
  }
  started.clear();
}

/** A cluster name no other test uses. */
export function clusterName(label = 't'): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

/** Every key matching `pattern` (a SCAN walk, not KEYS: the machine's Redis is shared). */
export async function scanKeys(r: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    out.push(...found);
  } while (cursor !== '0');
  return out;
}

/** Deletes every key of cluster `name` (for afterAll on a shared Redis). */
export async function dropCluster(url: string, name: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const keys = await scanKeys(r, `cp:{${name}}:*`);
    for (let i = 0; i < keys.length; i += 1000) await r.del(...keys.slice(i, i + 1000));
  } finally {
    r.disconnect();
  }
}
