/**
 * The worker initializer (`daemon start --init <module>`, like Python's
 * Pool(initializer=)): the module's `init` export, else its default export
 * (a function, or an object with an `init` function: a CommonJS
 * `module.exports = { init }`), called once with { pid, slot } before the
 * worker reports ready, and awaited. What it returns is every task's
 * `ctx.init`; what it puts on globalThis stays too, because the realm guard
 * takes its baseline of the globals after it (main.ts), so restores between
 * apps put it back rather than delete it.
 *
 * A throw or rejection is not a crash: the worker comes up failed, and
 * fails every chunk with E_INIT_FAILED (no crash loop). A hang is the
 * primary's to end (supervisor.ts): a synchronous loop would stop any timer
 * of ours.
 */
import { ErrorCode, type WireError } from '@corepool/protocol';
import { INIT_ENV, INIT_FAILED_ENV } from '../ipc.js';

/** What the initializer left for tasks: its return value (ctx.init). */
export const initState: { value: unknown } = { value: undefined };

/** Runs the initializer named in the environment, if any; the failure to report, if it failed. */
export async function runInitializer(): Promise<WireError | undefined> {
  const failed = process.env[INIT_FAILED_ENV];
  const url = process.env[INIT_ENV];
  // Neither is for the tasks (nor a subprocess of theirs).
  delete process.env[INIT_FAILED_ENV];
  delete process.env[INIT_ENV];
  if (failed !== undefined) return { code: ErrorCode.E_INIT_FAILED, message: failed };
  if (url === undefined || url === '') return undefined;
  try {
    const mod = (await import(url)) as Record<string, unknown>;
    const def = mod.default as Record<string, unknown> | undefined;
    const fn = [mod.init, def, def?.init].find((f) => typeof f === 'function') as ((info: unknown) => unknown) | undefined;
    if (fn === undefined) throw new Error('the module exports no init function (export `init`, or a default function)');
    initState.value = await fn({ pid: process.pid, slot: Number(process.env.COREPOOL_WORKER_SLOT) });
    return undefined;
  } catch (err) {
    const why = err instanceof Error ? (err.stack ?? err.message) : String(err);
    return { code: ErrorCode.E_INIT_FAILED, message: `the worker initializer ${url} failed: ${why.slice(0, 2000)}` };
  }
}
