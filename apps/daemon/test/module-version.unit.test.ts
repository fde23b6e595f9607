/**
 * A module task's version is what the primary computes on its one thread for
 * any path a client names: it must neither block nor read without bound. A
 * FIFO, a device or a directory is refused; a small file is versioned by its
 * contents, a large one by its identity and change times, never read.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BadTaskError } from '@corepool/protocol';
import { CONTENT_HASH_BYTES, moduleVersion } from '../src/module-version.js';

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

  it('versions a file over CONTENT_HASH_BYTES by its identity and times, without reading it: the same while untouched, another once written', () => {
    const file = join(dir, 'large.mjs');
    writeFileSync(file, `export const f = (x) => x;\n/*${'x'.repeat(CONTENT_HASH_BYTES)}*/\n`);
    const v1 = moduleVersion(url('large.mjs'));
    expect(v1).toMatch(/^s[A-Za-z0-9_-]{21}$/);
    expect(moduleVersion(url('large.mjs'))).toBe(v1);
    appendFileSync(file, '\n');
    const v2 = moduleVersion(url('large.mjs'));
    expect(v2).toMatch(/^s/);
    expect(v2).not.toBe(v1);
  });
});
