/**
 * The version of a module task's file: a hash of its contents, so that every
 * item of a batch runs the code that was on disk when the batch opened. The
 * primary stamps each module batch with it; a worker imports that version
 * (`url?v=<version>`, a module instance of its own) and refuses to run a
 * batch whose file has changed since (E_CODE_REPLACED) rather than run it on
 * other code. Hashes are kept per path while the file's size and mtime stay
 * the same, so a batch open costs a stat.
 */
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@corepool/protocol/internal';

/** Files whose hash is kept (a daemon serves a few task modules; a bound, not a cache policy). */
const MAX_KEPT = 1024;
const kept = new Map<string, { mtimeMs: number; size: number; version: string }>();

/** The version of the file at `url` now, or undefined when it is not a readable local file (the import then says why). */
export function moduleVersion(url: string): string | undefined {
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch {
    return undefined;
  }
  try {
    const st = statSync(path);
    const known = kept.get(path);
    if (known !== undefined && known.mtimeMs === st.mtimeMs && known.size === st.size) return known.version;
    const version = sha256(readFileSync(path), 'base64url').slice(0, 22);
    if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value!);
    kept.set(path, { mtimeMs: st.mtimeMs, size: st.size, version });
    return version;
  } catch {
    return undefined;
  }
}
