/**
 * ConnectionSources: what a connection sent is named by hash afterwards. Fed
 * the opens a client sends by the SDK's rule (its hash alone when its own LRU,
 * within CLIENT_SOURCES, has it; whole otherwise; a source over
 * MAX_KEPT_SOURCE_CHARS whole and counted by neither), every hash-only open
 * resolves to its source; a hash this connection never sent, or sent with a
 * source that is not its own, comes back as it was, for the scheduler to
 * refuse or find among the daemon's verified ones.
 */
import { describe, expect, it } from 'vitest';
import { CLIENT_SOURCES, MAX_KEPT_SOURCE_CHARS, SourceLru, sourceHash, type TaskSpec } from '@corepool/protocol/internal';
import { ConnectionSources } from '../src/primary/connection-sources.js';

describe('ConnectionSources', () => {
  it('resolves every hash the SDK sends alone, over 20,000 random opens of sources of every size', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const sources = Array.from({ length: 60 }, (_, i) => {
      const size = i % 10 === 9 ? MAX_KEPT_SOURCE_CHARS + random(1000) : 1 + random(CLIENT_SOURCES.chars / 8);
      const source = `${i}:`.padEnd(size, 'x');
      return { hash: sourceHash(source), source };
    });
    const sdk = new SourceLru(CLIENT_SOURCES);
    const conn = new ConnectionSources();
    let byHash = 0;
    for (let step = 0; step < 20_000; step++) {
      const { hash, source } = sources[random(sources.length)]!;
      let wire: TaskSpec = { kind: 'source', hash, source };
      if (source.length <= MAX_KEPT_SOURCE_CHARS) {
        if (sdk.touch(hash)) wire = { kind: 'source', hash, source: '' };
        else sdk.set(hash, source.length, undefined);
      }
      if (wire.kind === 'source' && wire.source === '') byHash++;
      expect(conn.resolve(wire)).toEqual({ kind: 'source', hash, source });
    }
    expect(byHash).toBeGreaterThan(5_000);
  });

  it('returns a hash it was never sent, and a module task, as they are', () => {
    const conn = new ConnectionSources();
    const unknown: TaskSpec = { kind: 'source', hash: 'never', source: '' };
    expect(conn.resolve(unknown)).toBe(unknown);
    const mod: TaskSpec = { kind: 'module', url: 'file:///t.js', name: 'f' };
    expect(conn.resolve(mod)).toBe(mod);
    // A source too long to keep is not kept: its hash alone is not known after.
    const longSource = 'y'.repeat(MAX_KEPT_SOURCE_CHARS + 1);
    const long: TaskSpec = { kind: 'source', hash: sourceHash(longSource), source: longSource };
    expect(conn.resolve(long)).toBe(long);
    const longByHash: TaskSpec = { kind: 'source', hash: sourceHash(longSource), source: '' };
    expect(conn.resolve(longByHash)).toBe(longByHash);
  });

  it('keeps no source sent under a hash that is not its own: that hash alone is left to the scheduler', () => {
    const conn = new ConnectionSources();
    const victim = sourceHash('(x) => x * 2');
    const forged: TaskSpec = { kind: 'source', hash: victim, source: '(x) => "pwned"' };
    expect(conn.resolve(forged)).toBe(forged);
    const byHash: TaskSpec = { kind: 'source', hash: victim, source: '' };
    expect(conn.resolve(byHash)).toBe(byHash);
  });
});
