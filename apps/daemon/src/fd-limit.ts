/**
 * The process's open-file limit, which bounds how many connections the daemon
 * can hold: every client, every socket still in its HTTP upgrade, each
 * worker's two channels and LMDB's files all take one descriptor, and an
 * accept past the limit fails for everyone.
 */
import { readFileSync } from 'node:fs';

/** Descriptors the primary keeps for itself: Node's own (~20), LMDB, logs, with room to spare. */
export const RESERVED_FDS = 64;
/** Descriptors per worker in the primary (stdout, stderr, cluster's IPC, the data channel, the orphan guard's socket). */
export const FDS_PER_WORKER = 5;

/** The soft "Max open files" limit of this process (Linux /proc), or undefined where it cannot be read. */
export function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (m === null) return undefined;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * Splits the descriptors left after the reserve between connections still in
 * their HTTP upgrade (a quarter, at most 1,024) and sessions.
 */
export function connectionBudget(limit: number | undefined, workers: number): { sockets: number; preUpgrade: number } {
  const sockets =
    limit === undefined || !Number.isFinite(limit)
      ? Number.POSITIVE_INFINITY
      : Math.max(8, limit - RESERVED_FDS - FDS_PER_WORKER * workers);
  const preUpgrade = Math.max(4, Math.min(1024, Math.floor(sockets / 4)));
  return { sockets, preUpgrade };
}
