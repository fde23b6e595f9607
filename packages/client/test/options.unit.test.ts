/** Options are checked once at the facade, each with a coded error. */
import { describe, expect, it } from 'vitest';
import { checkConnectOptions, checkMapOptions } from '../src/options.js';

describe('options', () => {
  it('rejects wrong types and ranges with E_BAD_ARGUMENT', () => {
    for (const o of [
      { chunkSize: 0 },
      { chunkSize: 1.5 },
      { timeoutMs: 0 },
      { retries: -1 },
      { retries: 101 },
      { signal: {} },
      { onProgress: 1 },
      { ordered: 'yes' },
    ]) {
      expect(() => checkMapOptions(o)).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    }
    expect(() => checkConnectOptions({ spawn: 'yes' })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    expect(checkMapOptions({ chunkSize: 10, retries: 0 })).toEqual({ chunkSize: 10, retries: 0 });
  });

  it('refuses a timeoutMs a timer cannot hold (2^31 ms and more would fire at once), NaN, fractions and negatives', () => {
    for (const timeoutMs of [2 ** 31, 2 ** 53, Number.NaN, Infinity, -5, 2.5]) {
      expect(() => checkMapOptions({ timeoutMs })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    }
    expect(checkMapOptions({ timeoutMs: 2 ** 31 - 1 })).toEqual({ timeoutMs: 2 ** 31 - 1 });
  });

  it('accepts reconnectTimeoutMs: Infinity (never give up), refuses NaN, fractions and negatives', () => {
    expect(checkConnectOptions({ reconnectTimeoutMs: Infinity })).toEqual({ reconnectTimeoutMs: Infinity });
    expect(checkConnectOptions({ reconnectTimeoutMs: 0 })).toEqual({ reconnectTimeoutMs: 0 });
    for (const reconnectTimeoutMs of [Number.NaN, -Infinity, -1, 2.5, '10']) {
      expect(() => checkConnectOptions({ reconnectTimeoutMs })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    }
  });

  it('refuses options the call does not have, rather than run with the default the user meant to change', () => {
    expect(() => checkMapOptions({ chunksize: 10 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_ARGUMENT', message: expect.stringMatching(/did you mean chunkSize/) }),
    );
    expect(() => checkMapOptions({ timeout: 10 }, 'imap')).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^imap has no option "timeout"/) }),
    );
    // submit is one item: a chunk size is not its option, though map's are checked the same way.
    expect(() => checkMapOptions({ chunkSize: 1 }, 'submit')).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    expect(checkMapOptions({ ordered: false, priority: 3 }, 'mapSettled')).toEqual({ ordered: false, priority: 3 });
    expect(() => checkConnectOptions({ url: 'ws://x' })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
  });
});
