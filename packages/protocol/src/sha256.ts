/**
 * sha256 digests for the SDK and the daemon (task sources, module versions,
 * dict entries). node:crypto is loaded on the first digest, not at import: a
 * worker that never hashes (most never do) starts without it, and loading it
 * cost ~3 ms of each worker's boot, measured on the start's critical path.
 */
import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');

/** Captured at load, before any task runs: the first digest does not go through a require a task could replace. */
const load = createRequire(import.meta.url);
let crypto: Crypto | undefined;

/** The sha256 of `data` in `encoding`. */
export function sha256(data: string | Uint8Array, encoding: 'base64' | 'base64url'): string {
  crypto ??= load('node:crypto') as Crypto;
  return crypto.createHash('sha256').update(data).digest(encoding);
}
