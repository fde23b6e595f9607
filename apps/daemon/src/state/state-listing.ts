/**
 * state-listing.ts - the bounds of a state listing (StateStore.list, the
 * dashboard's named state) and the preview of a value in it. An app may make
 * 100,000 values, each up to a frame: a page has at most MAX_LIST_LIMIT
 * entries, a name or preview is cut short, and a value is decoded for its
 * preview only when it is small and cheap to decode, so one page costs a few
 * milliseconds whatever the state holds.
 */
import { inspect } from 'node:util';
import { decodeData, MAX_NAME_LENGTH } from '@corepool/protocol/internal';

import { decodeCost } from './data-equal.js';

/** Entries one page may ask for. */
export const MAX_LIST_LIMIT = 200;
/** Characters of a value's preview. */
export const PREVIEW_CHARS = 120;
/** Characters of a listed name: every name whole (`corepool state rm` takes a name from `state ls`). */
export const LISTED_NAME_CHARS = MAX_NAME_LENGTH;
/** A value larger than this is not decoded for its preview. */
export const PREVIEW_MAX_BYTES = 16 * 1024;
/** Nor one costlier than this to decode (decodeCost units, ~0.1 us each: ~2 ms). */
const PREVIEW_MAX_COST = 20_000;

/** `s` cut to `max` characters, with an ellipsis when it was longer. */
export function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A short, one-line rendering of a data-encoded value; its size alone when too large or costly to decode. */
export function preview(bytes: Uint8Array): string {
  const tooBig = `(${bytes.length} bytes)`;
  if (bytes.length > PREVIEW_MAX_BYTES || decodeCost(bytes, PREVIEW_MAX_COST) > PREVIEW_MAX_COST) return tooBig;
  let v: unknown;
  try {
    v = decodeData(bytes);
  } catch {
    return tooBig;
  }
  // Decoded data holds no functions or getters: inspect only formats it, within these limits.
  const text = inspect(v, {
    depth: 2,
    maxArrayLength: 10,
    maxStringLength: PREVIEW_CHARS,
    breakLength: Infinity,
    compact: true,
    customInspect: false,
  });
  return cut(text, PREVIEW_CHARS);
}

/** A page size from a request: 1..MAX_LIST_LIMIT. */
export function clampLimit(limit: number): number {
  return Math.max(1, Math.min(MAX_LIST_LIMIT, Math.floor(limit)));
}
