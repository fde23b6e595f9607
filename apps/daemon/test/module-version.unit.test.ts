/**
 * A module task's version is what the primary computes on its one thread for
 * any path a client names: it must neither block nor read without bound. A
 * FIFO, a device, a directory or a file over the bound is refused; a small
 * file is hashed at once, a large one off the thread; the same contents give
 * the same version however they were written.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BadTaskError } from '@corepool/protocol';
import { ModuleHashes } from '../src/module-hashes.js';
import { MAX_MODULE_BYTES, SYNC_HASH_BYTES, moduleVersion } from '../src/module-version.js';

const hashes = new ModuleHashes();
const moduleVersionLater = (u: string): Promise<unknown> => hashes.request(u, 'c').version;

const dir = mkdtempSync(join(tmpdir(), 'corepool-modversion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const url = (name: string): string => pathToFileURL(join(dir, name)).href;

describe('moduleVersion', () => {
  it('refuses a FIFO at once (reading one blocks until a writer comes), a device and a directory, with E_BAD_TASK', () => {
    execFileSync('mkfifo', [join(dir, 'fifo.mjs')]);
    for (const [target, what] of [
      [url('fifo.mjs'), 'a FIFO'],
      [pathToFileURL('/dev/zero').href, 'a device'],
      [pathToFileURL('/dev/urandom').href, 'a device'],
      [pathToFileURL(dir).href, 'a directory'],
    ] as const) {
      const v = moduleVersion(target);
      expect(v).toBeInstanceOf(BadTaskError);
      expect((v as BadTaskError).code).toBe('E_BAD_TASK');
      expect((v as BadTaskError).message).toContain(what);
    }
  });

  it('leaves a missing file and a non-file URL to the import (undefined)', () => {
    expect(moduleVersion(url('missing.mjs'))).toBeUndefined();
    expect(moduleVersion('https://example.com/t.mjs')).toBeUndefined();
  });

  it('versions a small file by its contents: touched, the same; edited, another', () => {
    const file = join(dir, 'small.mjs');
    writeFileSync(file, 'export const f = (x) => x;\n');
    const v1 = moduleVersion(url('small.mjs'));
    expect(v1).toMatch(/^[A-Za-z0-9_-]{22}$/);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(moduleVersion(url('small.mjs'))).toBe(v1);
    writeFileSync(file, 'export const f = (x) => x + 1;\n');
    const v2 = moduleVersion(url('small.mjs'));
    expect(v2).not.toBe(v1);
    expect(moduleVersion(url('small.mjs'))).toBe(v2);
  });

  it('hashes a file over SYNC_HASH_BYTES off the thread: "later" at first, then its contents\' version, kept; the same code rewritten keeps it', async () => {
    const file = join(dir, 'large.mjs');
    const code = `export const f = (x) => x;\n/*${'x'.repeat(SYNC_HASH_BYTES)}*/\n`;
    writeFileSync(file, code);
    expect(moduleVersion(url('large.mjs'))).toBe('later');
    const later = moduleVersionLater(url('large.mjs'));
    expect(moduleVersionLater(url('large.mjs'))).toBe(later); // one hash per file at a time
    const v1 = await later;
    expect(v1).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // What a worker computes on its own thread (and a lent worker on another host, from the same bytes).
    expect(moduleVersion(url('large.mjs'), true)).toBe(v1);
    expect(moduleVersion(url('large.mjs'))).toBe(v1);
    writeFileSync(file, code);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(moduleVersion(url('large.mjs'))).toBe('later');
    expect(await moduleVersionLater(url('large.mjs'))).toBe(v1);
    appendFileSync(file, '\n');
    const v2 = await moduleVersionLater(url('large.mjs'));
    expect(v2).not.toBe(v1);
    expect(moduleVersion(url('large.mjs'), true)).toBe(v2);
  });

  it('refuses a file over MAX_MODULE_BYTES without reading it', async () => {
    const file = join(dir, 'huge.mjs');
    writeFileSync(file, '');
    truncateSync(file, MAX_MODULE_BYTES + 1); // sparse: nothing written
    for (const v of [moduleVersion(url('huge.mjs')), moduleVersion(url('huge.mjs'), true), await moduleVersionLater(url('huge.mjs'))]) {
      expect(v).toBeInstanceOf(BadTaskError);
      expect((v as BadTaskError).message).toContain('over the');
    }
  });
});
