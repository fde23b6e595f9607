/**
 * redis-listing.ts - RedisState's page of the named state (StateStore.list)
 * for the dashboard: a few SCAN steps over the cluster's keys (never KEYS,
 * which would block Redis for every daemon on a large keyspace), then one
 * small read per key found. A value is read for its preview only when
 * HSTRLEN says it is small (state-listing.ts's bounds). The cursor is Redis's
 * SCAN cursor: a page may hold a few more entries than asked (SCAN's COUNT is
 * a hint), never unboundedly many.
 */
import { clampLimit, cut, LISTED_NAME_CHARS, PREVIEW_MAX_BYTES, preview, previewed } from '../../state/state-listing.js';
import type { StateEntry, StateListing } from '../../state/state-store.js';
import type { StateRedis } from './state-redis.js';

/** SCAN calls one page makes at most (each walks about `limit` keys of the whole keyspace). */
const MAX_SCANS = 8;

/** The kinds of state and the key prefix (after the cluster's) of each. */
const KINDS: [StateEntry['kind'], string][] = [
  ['value', 'v:'],
  ['queue', 'q:'],
  ['dict', 'dict:'],
  ['lock', 'lock:'],
];

/** `s` with Redis glob's special characters escaped. */
const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

export async function listRedisState(r: StateRedis, limit: number, cursor: string | undefined): Promise<StateListing> {
  const n = clampLimit(limit);
  const prefix = r.node.prefix;
  const found: [StateEntry['kind'], string, string][] = [];
  let at = cursor !== undefined && /^\d{1,20}$/.test(cursor) ? cursor : '0';
  for (let i = 0; i < MAX_SCANS && found.length < n; i++) {
    const [next, keys] = (await r.read('SCAN', at, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', n)) as [Buffer, Buffer[]];
    at = next.toString();
    for (const b of keys) {
      const key = b.toString();
      const rest = key.slice(prefix.length);
      const kind = KINDS.find(([, p]) => rest.startsWith(p));
      if (kind !== undefined) found.push([kind[0], key, rest.slice(kind[1].length)]);
    }
    if (at === '0') break;
  }
  const entries = await Promise.all(found.map(([kind, key, name]) => describe(r, kind, key, cut(name, LISTED_NAME_CHARS))));
  return { entries: entries.filter((e): e is StateEntry => e !== undefined), ...(at === '0' ? {} : { next: at }) };
}

/** One key's entry; undefined when it went away (or emptied) since the scan. */
async function describe(r: StateRedis, kind: StateEntry['kind'], key: string, name: string): Promise<StateEntry | undefined> {
  switch (kind) {
    case 'value': {
      const [ver, len] = (await Promise.all([r.read('HGET', key, 'ver'), r.read('HSTRLEN', key, 'val')])) as [Buffer | null, number];
      if (ver === null) return undefined;
      const val = len <= PREVIEW_MAX_BYTES ? ((await r.read('HGET', key, 'val')) as Buffer | null) : null;
      const shown =
        val === null ? `(${len} bytes)` : await previewed(() => preview(new Uint8Array(val.buffer, val.byteOffset, val.byteLength)));
      return { kind, name, version: Number(ver.toString()), bytes: len, preview: shown };
    }
    case 'queue': {
      const size = (await r.read('LLEN', key)) as number;
      return size > 0 ? { kind, name, size } : undefined;
    }
    case 'dict': {
      const size = (await r.read('HLEN', key)) as number;
      return size > 0 ? { kind, name, size } : undefined;
    }
    case 'lock': {
      const owner = (await r.read('HGET', key, 'owner')) as Buffer | null;
      return owner === null ? undefined : { kind, name, holder: owner.toString() };
    }
  }
}
