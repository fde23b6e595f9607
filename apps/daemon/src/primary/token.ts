/**
 * The daemon's shared secret: generated at first start into <data-dir>/token
 * (mode 0600, directory 0700), compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { ensureDataDir } from '../data-dir.js';
import { join } from 'node:path';

/** Path of the token file in a data dir. */
export function tokenPath(dataDir: string): string {
  return join(dataDir, 'token');
}

/** Reads the data dir's token, creating it on first start. */
export function loadOrCreateToken(dataDir: string): string {
  ensureDataDir(dataDir);
  const file = tokenPath(dataDir);
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) {
      throw new Error(`token file ${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
    }
    const token = readFileSync(file, 'utf8').trim();
    if (token.length > 0) return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time token comparison. */
export function tokenMatches(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}
