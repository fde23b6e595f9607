/**
 * A task error's stack as the app sees it: the task's own frames, without
 * the worker's frames that called it and Node's below them. Those say where
 * in the daemon the task was called from (the same for every task), not
 * where it failed, and made every remote stack twice as long as the task's.
 * Only the calling end is cut: a frame of the worker's between two of the
 * task's (a state handle the task awaited) stays, so no frame of the task's
 * is lost.
 */
import { fileURLToPath } from 'node:url';

/** This worker's own files, as file URLs (ES modules, dist/) and as paths (the CommonJS bundle). */
const OWN_DIR_URL = new URL('.', import.meta.url).href;
const OWN_DIR_PATH = fileURLToPath(OWN_DIR_URL);

/** `stack` less its trailing frames in the worker's files or Node's own (node:...). */
export function taskStack(stack: string): string {
  const lines = stack.split('\n');
  let end = lines.length;
  while (end > 1 && callerFrame(lines[end - 1]!)) end--;
  // Nothing but callers after the message (an error of the worker's own): kept whole, it is all there is.
  return end === 1 || end === lines.length ? stack : lines.slice(0, end).join('\n');
}

function callerFrame(line: string): boolean {
  const t = line.trimStart();
  if (!t.startsWith('at ')) return false;
  return t.includes(OWN_DIR_URL) || t.includes(OWN_DIR_PATH) || t.includes('(node:') || t.startsWith('at node:');
}
