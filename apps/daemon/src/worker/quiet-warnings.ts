/**
 * Keeps Node's warning about the worker's own use of an experimental vm
 * constant (USE_MAIN_CONTEXT_DEFAULT_LOADER, which gives a function task's
 * import() the loader of a module) out of the task output the daemon logs:
 * it is not the task's doing, and it came once per worker, the first time a
 * task imported. Every other warning, a task's own included, is printed as
 * before. `--disable-warning=ExperimentalWarning` would hide all of them.
 */
const OURS = 'vm.USE_MAIN_CONTEXT_DEFAULT_LOADER';

/** Wraps process.emitWarning so that the one warning above is dropped. */
export function quietOwnWarnings(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = function emitWarning(...args: unknown[]): void {
    const warning = args[0];
    const text = typeof warning === 'string' ? warning : warning instanceof Error ? warning.message : '';
    if (text.startsWith(OURS)) return;
    emit(...args);
  } as typeof process.emitWarning;
}
