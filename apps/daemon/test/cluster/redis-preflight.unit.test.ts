/**
 * The preflight's verdict on facts read from Redis, without a server: the
 * version floor (no Redis older than 7.0 runs here to test it for real), the
 * policy, the persistence warning, and a URL shown without its password.
 */
import { describe, expect, it } from 'vitest';
import { ClusterRefusedError } from '@corepool/protocol';
import { assessRedis, redactRedisUrl } from '../../src/cluster/redis-preflight.js';

const ok = { version: '7.0.15', maxmemoryPolicy: 'noeviction', aof: true, rdb: true };

describe('assessRedis', () => {
  it('refuses Redis older than 7.0, naming the version and the floor', () => {
    for (const version of ['6.2.14', '6.0.16', '5.0.14', '6.1.0']) {
      expect(() => assessRedis('redis://h:6379', { ...ok, version })).toThrow(ClusterRefusedError);
      expect(() => assessRedis('redis://h:6379', { ...ok, version })).toThrow(`version ${version}; a corepool cluster needs Redis 7.0`);
    }
    for (const version of ['7.0.0', '7.0.15', '10.0.0']) expect(assessRedis('redis://h:6379', { ...ok, version }).version).toBe(version);
  });

  it('refuses every policy but noeviction', () => {
    expect(() => assessRedis('redis://h:6379', { ...ok, maxmemoryPolicy: 'volatile-ttl' })).toThrow(
      'CONFIG SET maxmemory-policy noeviction',
    );
  });

  it('warns when persistence is off or cannot be confirmed, not when either AOF or RDB is on', () => {
    expect(assessRedis('redis://h:6379', ok).warnings).toEqual([]);
    expect(assessRedis('redis://h:6379', { ...ok, aof: false }).warnings).toEqual([]);
    expect(assessRedis('redis://h:6379', { ...ok, rdb: false }).warnings).toEqual([]);
    expect(assessRedis('redis://h:6379', { ...ok, aof: false, rdb: false }).warnings[0]).toContain('no AOF, no RDB save points');
    const unknown = assessRedis('redis://h:6379', { ...ok, aof: false, rdb: undefined });
    expect(unknown.warnings[0]).toContain('CONFIG is disabled');
    expect(unknown.persistence).toEqual({ aof: false, rdb: false });
  });

  it('shows a URL without its password', () => {
    expect(redactRedisUrl('redis://user:pw@h:6379/0')).toBe('redis://user:***@h:6379/0');
    expect(redactRedisUrl('redis://h:6379')).toBe('redis://h:6379');
    expect(redactRedisUrl('not a url :pw@')).not.toContain('pw');
  });
});
