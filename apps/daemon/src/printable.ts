/**
 * printable.ts - text an app chose (a client's name, an error's message) made
 * safe to print on an operator's terminal: a co-tenant that names its client
 * "\x1b[31m…\n" must not colour, move or forge lines of `daemon status` or
 * `corepool top`.
 */

/** `text` with every control character (C0, DEL, C1) replaced by '?', so no escape sequence or line break survives. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
