/**
 * The process settings a task may change for every later task: process.env
 * (TZ included: Node re-reads the time zone when it changes), the working
 * directory and the umask. Taken once at startup and put back before every
 * chunk, so each chunk starts from them whoever ran before.
 *
 * Comparing process.env costs ~60 us (every read is a getenv), too much per
 * chunk: process.env is replaced by a Proxy of itself that notes writes, so
 * an untouched env costs nothing to check. The real object is still the one
 * written to (TZ and child processes see every change), and restored directly.
 */

/** Startup values of env, cwd and umask, and their restoration. */
export class ProcessBaseline {
  readonly #real: NodeJS.ProcessEnv = process.env;
  readonly #env: Record<string, string | undefined> = { ...process.env };
  readonly #proxy: NodeJS.ProcessEnv;
  #envDirty = false;
  readonly #cwd = process.cwd();
  readonly #umask: number;
  #umaskDirty = false;

  constructor() {
    const mark = (): void => {
      this.#envDirty = true;
    };
    this.#proxy = new Proxy(this.#real, {
      set: (t, k, v) => (mark(), Reflect.set(t, k, v)),
      deleteProperty: (t, k) => (mark(), Reflect.deleteProperty(t, k)),
      defineProperty: (t, k, d) => (mark(), Reflect.defineProperty(t, k, d)),
    });
    process.env = this.#proxy;
    this.#umask = process.umask(0o022);
    process.umask(this.#umask);
    const umask = process.umask.bind(process);
    process.umask = ((mask?: string | number) => {
      if (mask !== undefined) this.#umaskDirty = true;
      return mask === undefined ? umask() : umask(mask);
    }) as typeof process.umask;
  }

  /** Puts env, cwd and umask back; the reason if it cannot (the worker must then not run another chunk). */
  reset(): string | undefined {
    try {
      if (process.env !== this.#proxy) process.env = this.#proxy;
      if (this.#envDirty) {
        this.#envDirty = false;
        const env = this.#real;
        for (const k of Object.keys(env)) if (!(k in this.#env)) delete env[k];
        for (const [k, v] of Object.entries(this.#env)) if (env[k] !== v) env[k] = v;
      }
      if (process.cwd() !== this.#cwd) process.chdir(this.#cwd);
      if (this.#umaskDirty) {
        this.#umaskDirty = false;
        process.umask(this.#umask);
      }
      return undefined;
    } catch (err) {
      return `cannot restore the process environment, working directory or umask: ${String((err as Error)?.message)}`;
    }
  }
}
