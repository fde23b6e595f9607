/**
 * The process settings a task may change for every later task: process.env
 * (TZ included: Node re-reads the time zone when it changes), the working
 * directory and the umask. Taken once at startup and put back before every
 * chunk, so each chunk starts from them whoever ran before.
 *
 * Comparing process.env costs 20-50 us with 40 variables (every read is a
 * getenv, listing the names copies the whole environment), too much per
 * chunk: process.env is replaced by a Proxy of itself that notes writes
 * (its prototype too), and process.loadEnvFile by a wrapper that notes its
 * own (it writes the environment natively, past the Proxy), so an untouched
 * env costs nothing to check. The real object is still the one written to
 * (TZ and child processes see every change), and restored directly. What
 * else writes the environment natively (a thread started with SHARE_ENV, an
 * addon's setenv) is seen by the full comparison made whenever the worker
 * switches apps, where it costs little beside the globals' restore: within
 * one app's run of chunks such a write survives.
 * The reset uses process.cwd/chdir/umask and Object.keys as they were at
 * startup (primordials.ts): a task may have replaced them.
 */
import {
  ObjectKeys,
  ReflectDefineProperty,
  ReflectDeleteProperty,
  ReflectGetPrototypeOf,
  ReflectSet,
  ReflectSetPrototypeOf,
} from './primordials.js';

const cwd = process.cwd.bind(process);
const chdir = process.chdir.bind(process);

/** Startup values of env, cwd and umask, and their restoration. */
export class ProcessBaseline {
  readonly #real: NodeJS.ProcessEnv = process.env;
  readonly #env: Record<string, string | undefined> = Object.assign(Object.create(null) as Record<string, string | undefined>, process.env);
  readonly #envKeys = Object.keys(process.env);
  readonly #envProto: object | null = Object.getPrototypeOf(process.env) as object | null;
  readonly #proxy: NodeJS.ProcessEnv;
  #envDirty = false;
  readonly #cwd = cwd();
  readonly #umaskOf: (mask?: number) => number;
  readonly #umask: number;
  #umaskDirty = false;

  constructor() {
    const mark = (): void => {
      this.#envDirty = true;
    };
    this.#proxy = new Proxy(this.#real, {
      set: (t, k, v) => (mark(), ReflectSet(t, k, v)),
      deleteProperty: (t, k) => (mark(), ReflectDeleteProperty(t, k)),
      defineProperty: (t, k, d) => (mark(), ReflectDefineProperty(t, k, d)),
      setPrototypeOf: (t, p) => (mark(), ReflectSetPrototypeOf(t, p)),
    });
    process.env = this.#proxy;
    const load = process.loadEnvFile.bind(process);
    process.loadEnvFile = function loadEnvFile(path) {
      mark();
      load(path);
    };
    this.#umask = process.umask(0o022);
    process.umask(this.#umask);
    const umask = process.umask.bind(process);
    this.#umaskOf = umask;
    process.umask = ((mask?: string | number) => {
      if (mask !== undefined) this.#umaskDirty = true;
      return mask === undefined ? umask() : umask(mask);
    }) as typeof process.umask;
  }

  /**
   * Puts env, cwd and umask back; the reason if it cannot (the worker must then not run another chunk).
   * `compare`: the environment is compared in full, written or not (the worker switches apps).
   */
  reset(compare: boolean): string | undefined {
    try {
      if (process.env !== this.#proxy) process.env = this.#proxy;
      if (this.#envDirty || compare) {
        this.#envDirty = false;
        const env = this.#real;
        if (ReflectGetPrototypeOf(env) !== this.#envProto && !ReflectSetPrototypeOf(env, this.#envProto))
          return 'the prototype of process.env was changed for good';
        const now = ObjectKeys(env);
        for (let i = 0; i < now.length; i++) if (!(now[i]! in this.#env)) delete env[now[i]!];
        const keys = this.#envKeys;
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          if (env[k] !== this.#env[k]) env[k] = this.#env[k];
        }
      }
      if (cwd() !== this.#cwd) chdir(this.#cwd);
      if (this.#umaskDirty) {
        this.#umaskDirty = false;
        this.#umaskOf(this.#umask);
      }
      return undefined;
    } catch (err) {
      return `cannot restore the process environment, working directory or umask: ${String((err as Error)?.message)}`;
    }
  }
}
