/**
 * The name of a source task: sha256 of its source, base64url. The SDK sends
 * it with the source, workers cache compiled functions by it, and the daemon
 * checks it, so all three must compute it the same way: here, once.
 */
import { sha256 } from './sha256.js';

/** The hash that names a task source. */
export function sourceHash(source: string): string {
  return sha256(source, 'base64url');
}
