/**
 * The Redis preflight of cluster mode against real Redis servers: the
 * machine's (read only) and redis-servers started here on free ports with the
 * settings under test (an evicting policy, CONFIG renamed, persistence off, a
 * password), and a closed port. Every server started here is killed in afterAll.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { CorepoolError } from '@corepool/protocol';
import { checkRedis } from '../../src/cluster/redis-preflight.js';
import { freePort } from '../support/ports.js';
import { startRedis as startOwnRedis, stopAllRedis } from '../support/redis.js';

/** Starts a redis-server with `args`; resolves to its port. */
async function startRedis(args: string[]): Promise<number> {
  return (await startOwnRedis(args)).port;
}

async function rejection(p: Promise<unknown>): Promise<CorepoolError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorepoolError);
  return err as CorepoolError;
}

let lru: number;
let volatileNoConfig: number;
let diskless: number;

beforeAll(async () => {
  lru = await startRedis(['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru']);
  volatileNoConfig = await startRedis([
    '--save',
    '',
    '--appendonly',
    'no',
    '--maxmemory-policy',
    'volatile-lru',
    '--rename-command',
    'CONFIG',
    '',
  ]);
  diskless = await startRedis(['--save', '', '--appendonly', 'no', '--requirepass', 'hunter2-secret']);
});

afterAll(stopAllRedis);

describe('checkRedis', () => {
  it("reads the machine's Redis: its version, noeviction, its persistence", async () => {
    const ping = spawnSync('redis-cli', ['-p', '6379', 'ping'], { encoding: 'utf8' });
    expect(ping.stdout.trim()).toBe('PONG');
    const policy = spawnSync('redis-cli', ['-p', '6379', 'config', 'get', 'maxmemory-policy'], { encoding: 'utf8' }).stdout.split('\n')[1];
    const version = /redis_version:(\S+)/.exec(spawnSync('redis-cli', ['-p', '6379', 'info', 'server'], { encoding: 'utf8' }).stdout)?.[1];
    const report = await checkRedis('redis://127.0.0.1:6379');
    expect(report.version).toBe(version);
    expect(report.maxmemoryPolicy).toBe(policy);
    expect(report.warnings.length > 0).toBe(!report.persistence.aof && !report.persistence.rdb);
  });

  it('refuses an evicting maxmemory-policy, with the fix in the message', async () => {
    const err = await rejection(checkRedis(`redis://127.0.0.1:${lru}`));
    expect(err.code).toBe('E_CLUSTER_REFUSED');
    expect(err.message).toContain('allkeys-lru');
    expect(err.message).toContain('CONFIG SET maxmemory-policy noeviction');
    expect(err.message).toContain('`maxmemory-policy noeviction` in redis.conf');
  });

  it('reads the policy from INFO memory where CONFIG is renamed away, and refuses volatile-lru too', async () => {
    const err = await rejection(checkRedis(`redis://127.0.0.1:${volatileNoConfig}`));
    expect(err.code).toBe('E_CLUSTER_REFUSED');
    expect(err.message).toContain('volatile-lru');
  });

  it('accepts a Redis that keeps nothing on disk, with a warning', async () => {
    const report = await checkRedis(`redis://:hunter2-secret@127.0.0.1:${diskless}`);
    expect(report.maxmemoryPolicy).toBe('noeviction');
    expect(report.persistence).toEqual({ aof: false, rdb: false });
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toContain('appendonly yes');
    expect(report.warnings[0]).not.toContain('hunter2');
  });

  it('reports a closed port as unreachable, naming the URL and what to check', async () => {
    const port = await freePort();
    const err = await rejection(checkRedis(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 2_000 }));
    expect(err.code).toBe('E_CLUSTER_UNREACHABLE');
    expect(err.message).toContain(`redis://127.0.0.1:${port}`);
    expect(err.message).toContain('check that redis-server runs there');
  });

  it('gives up on a server that accepts the connection and never answers, instead of hanging', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const address = silent.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      const err = await rejection(checkRedis(`redis://127.0.0.1:${address.port}`, { connectTimeoutMs: 300 }));
      expect(err.code).toBe('E_CLUSTER_UNREACHABLE');
    } finally {
      silent.close();
    }
  });

  it('never shows the password: a closed port, and a wrong password', async () => {
    const port = await freePort();
    const closed = await rejection(checkRedis(`redis://user:s3cr3t-pw@127.0.0.1:${port}`, { connectTimeoutMs: 2_000 }));
    expect(closed.code).toBe('E_CLUSTER_UNREACHABLE');
    expect(closed.message).toContain(`redis://user:***@127.0.0.1:${port}`);
    expect(closed.message).not.toContain('s3cr3t-pw');
    const wrong = await rejection(checkRedis(`redis://:wrong-s3cr3t@127.0.0.1:${diskless}`, { connectTimeoutMs: 2_000 }));
    expect(wrong.code).toBe('E_CLUSTER_UNREACHABLE');
    expect(wrong.message).toContain('password');
    expect(wrong.message).not.toContain('wrong-s3cr3t');
    expect(String(wrong.stack)).not.toContain('wrong-s3cr3t');
  });

  it('rejects a URL that is not redis:// with E_BAD_ARGUMENT', async () => {
    expect((await rejection(checkRedis('http://127.0.0.1:6379'))).code).toBe('E_BAD_ARGUMENT');
  });
});
