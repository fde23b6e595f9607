/**
 * How the CLI tells a user what went wrong: one line with the error's message,
 * its code whatever its type (corepool's E_ codes, Node's errno strings, the
 * bare numbers LMDB throws), the file it concerns, and the causes behind it,
 * never a stack trace.
 */
import { getSystemErrorName } from 'node:util';

/** LMDB's own error numbers (lmdb.h), which lmdb-js throws as a numeric `code` without a name. */
const LMDB_CODES: Record<number, string> = {
  [-30799]: 'MDB_KEYEXIST',
  [-30798]: 'MDB_NOTFOUND',
  [-30797]: 'MDB_PAGE_NOTFOUND',
  [-30796]: 'MDB_CORRUPTED',
  [-30795]: 'MDB_PANIC',
  [-30794]: 'MDB_VERSION_MISMATCH',
  [-30793]: 'MDB_INVALID',
  [-30792]: 'MDB_MAP_FULL',
  [-30791]: 'MDB_DBS_FULL',
  [-30790]: 'MDB_READERS_FULL',
  [-30788]: 'MDB_TXN_FULL',
  [-30784]: 'MDB_INCOMPATIBLE',
};

/** A code as a name where one is known: 20 -> ENOTDIR, -30797 -> MDB_PAGE_NOTFOUND. */
function codeName(code: unknown): string | undefined {
  if (typeof code === 'string') return code.length > 0 ? code : undefined;
  if (typeof code !== 'number' || !Number.isInteger(code)) return code === undefined || code === null ? undefined : String(code);
  if (LMDB_CODES[code] !== undefined) return LMDB_CODES[code];
  try {
    // Node names system errors by their negative number; LMDB throws them positive.
    return `${getSystemErrorName(-Math.abs(code))}`;
  } catch {
    return String(code);
  }
}

/** One error (not its causes) as text: message, then code and path where the message lacks them. */
function one(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: unknown; path?: unknown };
  let text = e.message || e.name;
  const code = codeName(e.code);
  if (code !== undefined && !text.includes(code)) text += ` (${code})`;
  if (typeof e.path === 'string' && !text.includes(e.path)) text += ` [${e.path}]`;
  return text;
}

/** The whole story of an error on one line: the error, then each cause not already said. */
export function describeError(err: unknown): string {
  let text = one(err);
  let cause = err instanceof Error ? err.cause : undefined;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    const said = one(cause);
    if (!text.includes(said)) text += `: ${said}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return text;
}
