/**
 * SentSources: a source goes whole the first time on a connection and as its
 * hash afterwards, within CLIENT_SOURCES; a module task, or a source longer than
 * MAX_KEPT_SOURCE_CHARS, goes as it is every time.
 */
import { describe, expect, it } from 'vitest';
import { CLIENT_SOURCES, MAX_KEPT_SOURCE_CHARS, type TaskSpec } from '@corepool/protocol/internal';
import { SentSources } from '../src/sent-sources.js';

const source = (s: string): TaskSpec => ({ kind: 'source', hash: `h:${s.length}:${s.slice(-12)}`, source: s });

describe('SentSources', () => {
  it('sends a source whole once, then its hash alone', () => {
    const sent = new SentSources();
    const spec = source('(x) => x * 2');
    expect(sent.wire(spec)).toBe(spec);
    expect(sent.wire(spec)).toEqual({ kind: 'source', hash: spec.kind === 'source' ? spec.hash : '', source: '' });
  });

  it('sends a module task and a source over MAX_KEPT_SOURCE_CHARS as they are, every time', () => {
    const sent = new SentSources();
    const mod: TaskSpec = { kind: 'module', url: 'file:///tasks.js', name: 'double' };
    const long = source('x'.repeat(MAX_KEPT_SOURCE_CHARS + 1));
    for (let i = 0; i < 3; i++) {
      expect(sent.wire(mod)).toBe(mod);
      expect(sent.wire(long)).toBe(long);
    }
  });

  it(`forgets the least recently sent past ${CLIENT_SOURCES.count} sources, and sends those whole again`, () => {
    const sent = new SentSources();
    const specs = Array.from({ length: CLIENT_SOURCES.count + 1 }, (_, i) => source(`(x) => x + ${i}`));
    for (const s of specs) expect(sent.wire(s)).toBe(s);
    // The first one was pushed out by the last: whole again; the last is still known.
    expect(sent.wire(specs[0]!)).toBe(specs[0]);
    expect(sent.wire(specs[specs.length - 1]!)).toMatchObject({ source: '' });
  });

  it('does not count a source with a lone surrogate (its UTF-8 is not its hash on the daemon): whole every time', () => {
    const sent = new SentSources();
    const odd = source("(x) => '\uD800'.length + x");
    for (let i = 0; i < 3; i++) expect(sent.wire(odd)).toBe(odd);
    const paired = source("(x) => '\uD83D\uDE00'.length + x");
    expect(sent.wire(paired)).toBe(paired);
    expect(sent.wire(paired)).toMatchObject({ source: '' });
  });

  it('forgets every source on forget(): each goes whole once more, then by hash', () => {
    const sent = new SentSources();
    const a = source('(x) => x + 1');
    const b = source('(x) => x + 2');
    sent.wire(a);
    sent.wire(b);
    expect(sent.wire(a)).toMatchObject({ source: '' });
    sent.forget();
    expect(sent.wire(a)).toBe(a);
    expect(sent.wire(b)).toBe(b);
    expect(sent.wire(b)).toMatchObject({ source: '' });
  });
});
