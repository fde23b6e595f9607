/**
 * printable: what an app chose to call its client, printed on an operator's
 * terminal, can neither move, colour nor reorder the lines around it.
 */
import { expect, it } from 'vitest';
import { printable } from '../src/printable.js';

it('replaces control characters and bidirectional controls, and keeps the rest of the text', () => {
  expect(printable('a\x1b[31mb\nc\x7f\x9b')).toBe('a?[31mb?c??');
  // U+202E (right-to-left override) showed the rest of a status line backwards; marks and isolates alike.
  expect(printable('app\u202Etxt.exe\u2066x\u2069\u200f')).toBe('app?txt.exe?x??');
  expect(printable('naïve 名前 ✓')).toBe('naïve 名前 ✓');
});
