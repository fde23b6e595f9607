/**
 * sha256 digests for the SDK and the daemon (task sources, module versions,
 * dict entries). node:crypto is loaded on the first digest, not at import: a
 * worker that never hashes (most never do) starts without it, and loading it
 * cost ~3 ms of each worker's boot, on the daemon's start path.
 */
type Crypto = typeof import('node:crypto');

/** Captured at load, before any task runs: the first digest does not go through anything a task could replace. */
const builtin = process.getBuiltinModule.bind(process);
let crypto: Crypto | undefined;

/** The sha256 of `data` in `encoding`. */
export function sha256(data: string | Uint8Array, encoding: 'base64' | 'base64url'): string {
  crypto ??= builtin('node:crypto');
  return crypto.createHash('sha256').update(data).digest(encoding);
}
