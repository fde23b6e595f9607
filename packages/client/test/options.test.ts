/** Options are checked once at the facade, each with a coded error. */
import { describe, expect, it } from 'vitest';
import { checkConnectOptions, checkMapOptions } from '../src/options.js';

describe('options', () => {
  it('rejects wrong types and ranges with E_BAD_ARGUMENT', () => {
    for (const o of [{ chunkSize: 0 }, { chunkSize: 1.5 }, { timeoutMs: 0 }, { retries: -1 }, { retries: 101 }, { signal: {} }, { onProgress: 1 }, { ordered: 'yes' }]) {
      expect(() => checkMapOptions(o)).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    }
    expect(() => checkConnectOptions({ spawn: 'yes' })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    expect(checkMapOptions({ chunkSize: 10, retries: 0 })).toEqual({ chunkSize: 10, retries: 0 });
  });
});
