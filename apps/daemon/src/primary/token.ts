/**
 * The daemon's shared secret: generated at first start into <data-dir>/token
 * (mode 0600, directory 0700), or read from --token-file, compared in constant
 * time. A token file must be this user's and unreadable by others: a token
 * someone else wrote would let them run code as this user.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { ensureDataDir, mode, refuseForeign } from '../data-dir.js';
import { join } from 'node:path';
import { BadArgumentError } from '@corepool/protocol/internal';

/** Shortest token a daemon accepts as its own (a generated one has 43 characters: 256 random bits). */
export const MIN_TOKEN_LENGTH = 16;

/** Throws when `token`, taken from `where`, is too short to keep strangers out. */
export function checkTokenLength(token: string, where: string): void {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new BadArgumentError(
      `the token from ${where} has ${token.length} characters, under the minimum of ${MIN_TOKEN_LENGTH}: use a long random one (e.g. openssl rand -base64 32), or none to have one generated in the data dir`,
    );
  }
}

/** Path of the token file in a data dir. */
export function tokenPath(dataDir: string): string {
  return join(dataDir, 'token');
}

/** Reads a token file after checking who owns it and who can read it; undefined if it is empty. */
function readChecked(file: string): string | undefined {
  const st = statSync(file);
  if (!st.isFile()) throw new BadArgumentError(`the token file ${file} is not a regular file`);
  refuseForeign(st, 'the token file', file, `write a token file of your own (mode 0600), or remove this one`);
  if ((st.mode & 0o077) !== 0) {
    throw new BadArgumentError(`the token file ${file} is readable by other users (mode ${mode(st)}); run: chmod 600 ${file}`);
  }
  const token = readFileSync(file, 'utf8').trim();
  return token.length > 0 ? token : undefined;
}

/** The token in a --token-file. */
export function readTokenFile(file: string): string {
  let token: string | undefined;
  try {
    token = readChecked(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new BadArgumentError(`the token file ${file} does not exist`, { cause: err });
    throw err;
  }
  if (token === undefined) throw new BadArgumentError(`the token file ${file} is empty`);
  return token;
}

/** Reads the data dir's token, creating it on first start. */
export function loadOrCreateToken(dataDir: string): string {
  ensureDataDir(dataDir);
  const file = tokenPath(dataDir);
  try {
    const token = readChecked(file);
    if (token !== undefined) return token;
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
