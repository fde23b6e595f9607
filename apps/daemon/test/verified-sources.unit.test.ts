/**
 * VerifiedSources: the primary runs a source under a hash only once it has
 * checked that hash itself. A source sent again (every batch of a function
 * brings it) is taken by a string compare and a touch, without hashing: that
 * shortcut must never let a different source through under a kept hash, nor
 * change what a hash-only spec resolves to.
 */
import { describe, expect, it } from 'vitest';
import { BadTaskError, sourceHash, type TaskSpec } from '@corepool/protocol';
import { VerifiedSources } from '../src/primary/verified-sources.js';

type SourceSpec = Extract<TaskSpec, { kind: 'source' }>;

const spec = (source: string, hash = sourceHash(source)): SourceSpec => ({ kind: 'source', hash, source });

describe('VerifiedSources', () => {
  it('takes a source sent again, the same string or an equal copy, and resolves its hash to it', () => {
    const v = new VerifiedSources();
    const src = '(x) => x * 2';
    const first = spec(src);
    expect(v.check(first, 'c')).toBe(first);
    // The same string object (from a connection's cache) and an equal string made apart.
    const again = spec(src);
    expect(v.check(again, 'c')).toBe(again);
    const copy = spec(['(x)', ' => x * 2'].join(''));
    expect(v.check(copy, 'c')).toBe(copy);
    expect(v.check({ kind: 'source', hash: first.hash, source: '' }, 'c')).toEqual({ kind: 'source', hash: first.hash, source: src });
  });

  it('refuses another source under a kept hash, every time, and keeps the verified one', () => {
    const v = new VerifiedSources();
    const src = '(x) => x + 1';
    const hash = sourceHash(src);
    expect(v.check(spec(src), 'c')).toMatchObject({ kind: 'source', hash });
    for (const forged of ['(x) => x - 1', `${src} `, src.slice(0, -1)]) {
      const r = v.check(spec(forged, hash), 'c');
      expect(r).toBeInstanceOf(BadTaskError);
      expect((r as BadTaskError).message).toContain('does not match');
    }
    expect(v.check({ kind: 'source', hash, source: '' }, 'c')).toEqual({ kind: 'source', hash, source: src });
    // And the verified source itself is still taken after the refusals.
    expect(v.check(spec(src), 'c')).toMatchObject({ hash, source: src });
  });

  it('refuses a hash it never verified, whole or alone', () => {
    const v = new VerifiedSources();
    const r = v.check({ kind: 'source', hash: sourceHash('(x) => x'), source: '' }, 'c');
    expect(r).toBeInstanceOf(BadTaskError);
    expect((r as BadTaskError).message).toContain('unknown task hash');
    const wrong = v.check(spec('(x) => x', sourceHash('(y) => y')), 'c');
    expect(wrong).toBeInstanceOf(BadTaskError);
  });
});
