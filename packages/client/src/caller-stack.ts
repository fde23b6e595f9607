/**
 * Where the app called map/submit/imap, for the errors its items get: an
 * item's error is made in the SDK's message handler, so its own stack shows
 * only SDK and ws frames. The caller's frames are captured when the batch
 * starts (V8 formats them only if an error needs them) and replace those,
 * above the worker's stack (`--- remote ---`).
 */
import { fileURLToPath } from 'node:url';

/** This package's own root (dist/, and src/ where source maps point): its frames say nothing to the app. */
const SDK_DIR = fileURLToPath(new URL('../', import.meta.url));

/** The caller's stack, captured now and formatted on first use. */
export class CallerStack {
  readonly #holder: { stack?: string } = {};
  #frames: string | undefined;

  constructor() {
    Error.captureStackTrace(this.#holder, CallerStack);
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
