/**
 * printable.ts - text an app chose (a client's name, an error's message) made
 * safe to print on an operator's terminal: a co-tenant that names its client
 * "\x1b[31m…\n" must not colour, move or forge lines of `daemon status` or
 * `corepool top`, nor, with Unicode's bidirectional controls (U+202E, right-
 * to-left override), show the rest of its line backwards.
 */

/**
 * `text` with every control character (C0, DEL, C1) and bidirectional control (marks, embeddings, overrides,
 * isolates) replaced by '?', so no escape sequence, line break or reordering survives.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
}
