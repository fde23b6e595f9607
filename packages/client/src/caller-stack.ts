/**
 * Where the app called map/submit/imap, for the errors its items get: an
 * item's error is made in the SDK's message handler, so its own stack shows
 * only SDK and ws frames. The caller's frames are captured when the app calls
 * (V8 formats them only if an error needs them) and replace those, above the
 * worker's stack (`--- remote ---`).
 *
 * The capture is the SDK's largest cost per submit: V8 walks about 0.5 us a
 * frame (measured on Node 20), skipped frames included: from deep in the SDK it cost
 * 6.5 us of the 31 us of client CPU per submit, from the entry 4 us. So it is taken in the
 * public method the app called, where only that method's frame sits above the
 * app's, and it keeps the app's CALLER_FRAMES nearest frames (fewer if
 * Error.stackTraceLimit says so). From an app's hot loop it costs more, 6-10 us
 * (measured beside a daemon, 2026-12-03): V8 decodes each TurboFan-optimized frame's
 * deoptimization data to name its inlined functions, one frame as dear as six.
 * V8's async stack traces would cost nothing until an error, but show only the
 * frames that await, not a synchronous caller's: the capture stays.
 */
import { fileURLToPath } from 'node:url';

/** This package's own root (dist/, and src/ where source maps point): its frames say nothing to the app. */
const SDK_DIR = fileURLToPath(new URL('../', import.meta.url));

/** The app's frames kept: the call site and its nearest callers (taken from deeper in the SDK, the default limit of 10 left 4). */
const CALLER_FRAMES = 6;

/** The caller's stack, captured now and formatted on first use. */
export class CallerStack {
  readonly #holder: { stack?: string } = {};
  #frames: string | undefined;

  /** `entry`: the public SDK method the app called; it and every frame above it are left out. Never throws. */
  constructor(entry: (...args: never[]) => unknown) {
    let limit: unknown;
    let capped = false;
    try {
      limit = Error.stackTraceLimit;
      if (!((limit as number) <= CALLER_FRAMES)) {
        Error.stackTraceLimit = CALLER_FRAMES;
        capped = true;
      }
    } catch {
      // A limit that cannot be read or set (frozen intrinsics): the capture runs under the app's own.
    }
    try {
      Error.captureStackTrace(this.#holder, entry);
    } catch {
      // Nothing to show then: the item errors go without the caller's frames.
    }
    if (capped) {
      try {
        Error.stackTraceLimit = limit as number;
      } catch {
        // Made read-only meanwhile: nothing to put back.
      }
    }
  }

  /** The caller's frames, the SDK's own left out. */
  get frames(): string {
    this.#frames ??= (this.#holder.stack ?? '')
      .split('\n')
      .slice(1)
      .filter((line) => !line.includes(SDK_DIR) && !line.includes('node:internal'))
      .join('\n');
    return this.#frames;
  }

  /** `err` with its stack made of its message, the caller's frames and the remote stack it carries. */
  attach<E extends Error & { remoteStack?: string }>(err: E): E {
    const remote = err.remoteStack === undefined ? '' : `\n    --- remote ---\n${err.remoteStack}`;
    err.stack = `${err.name}: ${err.message}\n${this.frames}${remote}`;
    return err;
  }
}
