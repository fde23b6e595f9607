/**
 * A module task edited while the daemon runs never gives one batch a mix of
 * versions: a batch runs the file as it was when it opened, on every worker
 * (a worker that has not loaded that version and no longer can refuses the
 * batch with E_CODE_REPLACED rather than run other code), and the next batch
 * runs the new file, with no restart and no reload.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { task, type Client, type CorepoolError } from '@corepool/client';
import { MAX_MODULE_BYTES, SYNC_HASH_BYTES } from '../src/module-version.js';
import { useDaemon, type TestDaemon } from './support/daemon.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 2 });

const source = (version: string): string =>
  `export async function which(x) {\n  if (x === 'kill') process.kill(process.pid, 'SIGKILL');\n  await new Promise((r) => setTimeout(r, 15));\n  return '${version}';\n}\n`;

describe('module task versions', () => {
  it('a batch never mixes the versions of a file edited while it runs; the next batch runs the new one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corepool-modver-'));
    const file = join(dir, 'tasks.mjs');
    try {
      writeFileSync(file, source('v1'));
      const which = task<string | number, string>(file, 'which');
      // Item 30 kills its worker: its successor has never loaded v1 and finds v2 on disk.
      const items: (string | number)[] = Array.from({ length: 80 }, (_, i) => (i === 30 ? 'kill' : i));
      let edited = false;
      const values: string[] = [];
      let failure: CorepoolError | undefined;
      try {
        for await (const v of client.imap(which, items, { chunkSize: 1, retries: 3, ordered: false })) {
          values.push(v);
          if (values.length === 10) {
            edited = true;
            writeFileSync(file, source('v2'));
          }
        }
      } catch (err) {
        failure = err as CorepoolError;
      }
      expect(edited).toBe(true);
      // Either the batch ends on v1 (its workers had v1), or it fails with E_CODE_REPLACED: never v2 within it.
      expect(values).not.toContain('v2');
      expect(values.every((v) => v === 'v1')).toBe(true);
      if (failure !== undefined) expect(failure.code).toBe('E_CODE_REPLACED');
      expect(await client.map(which, [1, 2, 3, 4])).toEqual(['v2', 'v2', 'v2', 'v2']);
      expect(d.pid).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a module file hashed off the primary's thread runs every item, chunks that came while it was hashed included; an edit reaches the next batch", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corepool-modver-large-'));
    const file = join(dir, 'large.mjs');
    const padding = `/*${'x'.repeat(4 * SYNC_HASH_BYTES)}*/\n`;
    try {
      writeFileSync(file, source('big-1') + padding);
      const which = task<number, string>(file, 'which');
      const items = Array.from({ length: 40 }, (_, i) => i);
      expect(await client.map(which, items, { chunkSize: 1 })).toEqual(items.map(() => 'big-1'));
      writeFileSync(file, source('big-2') + padding);
      expect(await client.map(which, [1, 2, 3])).toEqual(['big-2', 'big-2', 'big-2']);
      expect(await client.submit(which, 1)).toBe('big-2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a module file over the bound fails with E_BAD_TASK, unread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corepool-modver-huge-'));
    const file = join(dir, 'huge.mjs');
    try {
      writeFileSync(file, '');
      truncateSync(file, MAX_MODULE_BYTES + 1);
      const err = (await client.submit(task<number, number>(file, 'x'), 1).catch((e: unknown) => e)) as CorepoolError;
      expect(err.code).toBe('E_BAD_TASK');
      expect(await client.submit((x: number) => x + 1, 1)).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an app that names a FIFO or a device as its task module gets E_BAD_TASK at once; the daemon and another app go on', async () => {
    // Read on the primary's thread, a FIFO with no writer blocked it for good (no app answered, no client connected,
    // SIGTERM unheard); /dev/urandom read without end (1.8 GB in 10 s).
    const dir = mkdtempSync(join(tmpdir(), 'corepool-modver-fifo-'));
    const fifo = join(dir, 'tasks.mjs');
    execFileSync('mkfifo', [fifo]);
    const hostile = await d.connect({ name: 'fifo-namer' });
    try {
      for (const path of [fifo, '/dev/urandom', '/dev/zero', dir]) {
        const err = (await hostile.submit(task<number, number>(path, 'x'), 1).catch((e: unknown) => e)) as CorepoolError;
        expect(err.code).toBe('E_BAD_TASK');
        expect(err.message).toMatch(/a FIFO|a device|a directory/);
      }
      expect(await client.submit((x: number) => x + 1, 1)).toBe(2);
      const late = await d.connect({ name: 'newcomer' });
      expect(await late.submit((x: number) => x * 2, 21)).toBe(42);
      await late.close();
    } finally {
      await hostile.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
