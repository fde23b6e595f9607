import { afterEach, beforeEach } from 'vitest';
/** Shared fixtures of the state tests: a temp data dir and a SharedState on it. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { decodeData, encodeData, type StateOp, type StateRequest } from '@corepool/protocol';

import { Journal } from '../../src/state/journal.js';
import { SharedState } from '../../src/state/shared-state.js';
import type { FsyncMode } from '../../src/state/store.js';

/** A fresh temp dir, removed by `cleanup`. */
export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'corepool-state-'));
}

export function cleanup(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function open(dataDir: string, fsync: FsyncMode = 'everysec'): Promise<SharedState> {
  return SharedState.open({ dataDir, fsync });
}

export const enc = (v: unknown): Uint8Array => encodeData(v);
export const dec = (b: unknown): unknown => decodeData(b as Uint8Array);

/** Builds a request: op, name, then optional fields. */
export function req(op: StateOp, name: string, extra: Partial<StateRequest> = {}): StateRequest {
  return { op, name, ...extra };
}

/** Awaits a rejection and returns its code. */
export async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/**
 * A fresh data dir and SharedState for every test of a describe block; the
 * state the test ends with (it may have reopened it) is closed after it:
 * `let dir: string; let state: SharedState; useFreshState((x) => ({ dir, state } = x), () => state);`
 */
export function useFreshState(set: (x: { dir: string; state: SharedState }) => void, current: () => SharedState | undefined): void {
  let dir = '';
  beforeEach(async () => {
    dir = tempDir();
    set({ dir, state: await open(dir) });
  });
  afterEach(async () => {
    await current()?.close();
    cleanup(dir);
  });
}

/**
 * Appends `n` journal frames to the state directory `stateDir`, numbered from `first`, setting
 * values v0..v(n-1) to value(0)..value(n-1) (default: 0..n-1) at version 1: what a crash leaves
 * when the frames after LMDB's sequence number never reached a checkpoint.
 */
export function writeValueFrames(stateDir: string, first: number, n: number, value: (i: number) => unknown = (i) => i): void {
  const j = Journal.open(stateDir);
  try {
    // The store numbers its tables: values is 0. A value's record is its version (float64), then its bytes.
    for (let i = 0; i < n; i++) {
      const data = enc(value(i));
      const rec = new Uint8Array(8 + data.length);
      new DataView(rec.buffer).setFloat64(0, 1);
      rec.set(data, 8);
      j.append(first + i, [0, `v${i}`, rec]);
    }
  } finally {
    j.close();
  }
}
