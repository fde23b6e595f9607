/**
 * fsync-modes.ts - the state store's fsync modes (what each costs is in
 * store.ts's header), apart from the store so that reading the options does
 * not load LMDB: a daemon start forks its workers before it opens the store.
 */

/** The fsync modes, in the order the CLI lists them. */
export const FSYNC_MODES = ['always', 'everysec', 'no'] as const;

/** When the disk is flushed: after every batch, once a second, or when the OS likes. */
export type FsyncMode = (typeof FSYNC_MODES)[number];

/** The fsync mode when none is given. */
export const DEFAULT_FSYNC: FsyncMode = 'everysec';
