/**
 * sha256 digests for the SDK and the daemon (task sources, module versions,
 * dict entries), computed one way here. createHash is bound at load: a task
 * that later replaces `require('node:crypto').createHash` (a leftover stub)
 * does not change what a worker computes for another app's module task.
 */
import { createHash } from 'node:crypto';

/** The sha256 of `data` in `encoding`. */
export function sha256(data: string | Uint8Array, encoding: 'base64' | 'base64url'): string {
  return createHash('sha256').update(data).digest(encoding);
}
