/**
 * The libc hint (protocol's libc-hint.ts): the C library read from the first page of the executable
 * is detect-libc's own answer, and LIBC is set only while the load runs.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { libcFamily, withLibcHint } from '@corepool/protocol/internal';

// detect-libc comes with lmdb (through node-gyp-build-optional-packages), resolved from there.
const fromLmdb = createRequire(createRequire(import.meta.url).resolve('lmdb'));
const detectLibc = createRequire(fromLmdb.resolve('node-gyp-build-optional-packages'))('detect-libc') as { familySync(): string | null };

describe('the libc hint', () => {
  it.runIf(process.platform === 'linux')("names the C library detect-libc names, from the executable's first page", () => {
    const family = libcFamily();
    expect(family).toBeDefined();
    expect(family).toBe(detectLibc.familySync());
  });

  it('sets LIBC only for the load, and leaves one set by the user alone', () => {
    const before = process.env.LIBC;
    try {
      delete process.env.LIBC;
      const seen = withLibcHint(() => process.env.LIBC);
      expect(seen).toBe(process.platform === 'linux' ? libcFamily() : undefined);
      expect(process.env.LIBC).toBeUndefined();
      expect(() =>
        withLibcHint(() => {
          throw new Error('load failed');
        }),
      ).toThrow('load failed');
      expect(process.env.LIBC).toBeUndefined();
      process.env.LIBC = 'mine';
      expect(withLibcHint(() => process.env.LIBC)).toBe('mine');
      expect(process.env.LIBC).toBe('mine');
    } finally {
      if (before === undefined) delete process.env.LIBC;
      else process.env.LIBC = before;
    }
  });
});
