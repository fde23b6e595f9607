/**
 * The name of a source task: sha256 of its source, base64url. The SDK sends
 * it with the source, workers cache compiled functions by it, and the daemon
 * checks it, so all three must compute it the same way: here, once.
 */
import { createHash } from 'node:crypto';

/** The hash that names a task source. */
export function sourceHash(source: string): string {
  return createHash('sha256').update(source).digest('base64url');
}
