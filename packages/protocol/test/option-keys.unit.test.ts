/** An options object's keys: one the call does not know is refused, with the key it likely meant. */
import { describe, expect, it } from 'vitest';
import { checkOptionKeys } from '../src/option-keys.js';

const KNOWN = ['chunkSize', 'timeoutMs', 'limit', 'signal'];

/** The key the refusal of `{ [key]: 1 }` says was likely meant: '' if accepted, 'nothing' if none is named. */
function said(key: string): string {
  try {
    checkOptionKeys({ [key]: 1 }, KNOWN, 'map');
    return '';
  } catch (err) {
    return /did you mean (\w+)\?/.exec((err as Error).message)?.[1] ?? 'nothing';
  }
}

describe('checkOptionKeys', () => {
  it('accepts known keys, an empty object, and keys a prototype holds', () => {
    expect(() => checkOptionKeys({ chunkSize: 1, timeoutMs: 2 }, KNOWN, 'map')).not.toThrow();
    expect(() => checkOptionKeys({}, KNOWN, 'map')).not.toThrow();
    expect(() => checkOptionKeys(Object.create({ stray: 1 }) as object, KNOWN, 'map')).not.toThrow();
  });

  it('refuses an unknown key with E_BAD_ARGUMENT, naming it, the call and its options', () => {
    expect(() => checkOptionKeys({ chunkSize: 1, colour: 'red' }, KNOWN, 'map')).toThrow(
      expect.objectContaining({
        code: 'E_BAD_ARGUMENT',
        message: expect.stringMatching(/^map has no option "colour"; its options are chunkSize, timeoutMs/),
      }),
    );
  });

  it('says which key was likely meant: another case, a prefix, or one more letter', () => {
    expect(said('chunksize')).toBe('chunkSize');
    expect(said('timeout')).toBe('timeoutMs');
    expect(said('limits')).toBe('limit');
    expect(said('sig')).toBe('nothing');
    expect(said('ordered')).toBe('nothing');
  });

  it('says which key a misspelt one likely meant: a letter left out, added, changed or swapped', () => {
    expect(said('timout')).toBe('timeoutMs');
    expect(said('timeotuMs')).toBe('timeoutMs');
    expect(said('chunkSzie')).toBe('chunkSize');
    expect(said('chnkSize')).toBe('chunkSize');
    expect(said('singal')).toBe('signal');
    expect(said('lmit')).toBe('limit');
    // Too far from any: nothing is guessed.
    expect(said('colour')).toBe('nothing');
    expect(said('retries')).toBe('nothing');
    expect(said('abcd')).toBe('nothing');
  });
});
