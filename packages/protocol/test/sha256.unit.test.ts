/** sha256(): the digests the SDK, the daemon and its workers agree on, with node:crypto loaded only when first asked. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../src/sha256.js';
import { sourceHash } from '../src/task-hash.js';

describe('sha256', () => {
  const inputs: (string | Uint8Array)[] = [
    '',
    'x => x * 2',
    'é😀\u0000',
    new Uint8Array(0),
    new Uint8Array([0, 1, 254, 255]),
    new Uint8Array(100_000).fill(7),
  ];

  it.each(['base64', 'base64url'] as const)('matches node:crypto in %s, for strings and bytes', (encoding) => {
    for (const input of inputs) expect(sha256(input, encoding)).toBe(createHash('sha256').update(input).digest(encoding));
  });

  it('names a task source by its base64url digest (what the SDK sends and the daemon checks)', () => {
    const source = '(x) => x + 1';
    expect(sourceHash(source)).toBe(createHash('sha256').update(source).digest('base64url'));
    expect(sourceHash(source)).not.toBe(sourceHash(`${source} `));
  });
});
