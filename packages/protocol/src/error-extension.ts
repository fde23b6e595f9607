/**
 * error-extension.ts - how the data codec carries an Error: as structured
 * clone copies one (name, message, stack), in msgpackr's own extension type
 * (0x65) and layout, so a reader of msgpackr's format still finds the name and
 * message where it looks.
 */

/** The standard errors, made again by name (AggregateError takes its errors first). */
const ERRORS: Record<string, (message: string) => Error> = {
  Error: (m) => new Error(m),
  EvalError: (m) => new EvalError(m),
  RangeError: (m) => new RangeError(m),
  ReferenceError: (m) => new ReferenceError(m),
  SyntaxError: (m) => new SyntaxError(m),
  TypeError: (m) => new TypeError(m),
  URIError: (m) => new URIError(m),
  AggregateError: (m) => new AggregateError([], m),
};

/**
 * An Error as structured clone copies one: name, message and stack. msgpackr's own extension
 * (the same type, 0x65) sends [name, message, cause], and its reader made the error anew, so the
 * stack that arrived was the decoder's own (naming where the daemon is installed) and every copy
 * had an own `cause`. This one sends [name, message, undefined, stack]: a reader of msgpackr's
 * format finds the name and message where it looks, and no cause.
 */
export const ERROR_EXTENSION = {
  Class: Error,
  type: 0x65,
  write(e: Error): unknown[] {
    return [e.name, e.message, undefined, e.stack];
  },
  read(data: unknown): Error {
    const [name, message, , stack] = Array.isArray(data) ? (data as unknown[]) : [];
    const n = typeof name === 'string' ? name : 'Error';
    const make = Object.hasOwn(ERRORS, n) ? ERRORS[n]! : ERRORS.Error!;
    const e = make(typeof message === 'string' ? message : String(message ?? ''));
    if (e.name !== n) e.name = n;
    if (typeof stack === 'string') e.stack = stack;
    else delete e.stack;
    return e;
  },
};
