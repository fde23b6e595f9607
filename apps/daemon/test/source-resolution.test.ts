/**
 * What require() and import() in a source task resolve: both from the
 * daemon's working directory (its node_modules and the directories above),
 * the same rule for both; a module not found says where tasks look and what
 * to do instead, not a made-up file.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './support/daemon.js';

declare const require: NodeJS.Require;
/** Tasks that call import() are built from text: the test runner rewrites import() in this file's own code. */
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (x: number) => Promise<unknown>;

describe('require() and import() in source tasks', () => {
  it('resolve from the daemon working directory, both of them, and say where they looked', async () => {
    // A working directory with a package of its own: both find it, from there.
    const cwd = mkdtempSync(join(tmpdir(), 'corepool-cwd-'));
    mkdirSync(join(cwd, 'node_modules', 'only-in-cwd'), { recursive: true });
    writeFileSync(join(cwd, 'node_modules', 'only-in-cwd', 'package.json'), JSON.stringify({ name: 'only-in-cwd', main: 'index.js' }));
    writeFileSync(join(cwd, 'node_modules', 'only-in-cwd', 'index.js'), 'module.exports = 42;\n');
    try {
      await using d = await startDaemon({ cwd });
      const client = await d.connect();
      const both = new AsyncFunction('x', "const m = await import('only-in-cwd'); return [require('only-in-cwd'), m.default];");
      expect(await client.submit(both, 0)).toEqual([42, 42]);

      const required = (await client.submit(() => require('not-installed-anywhere') as number, 0).catch((e: unknown) => e)) as Error;
      expect(required).toBeInstanceOf(Error);
      expect(required.message).toMatch(/Cannot find module 'not-installed-anywhere'/);
      expect(required.message).toContain(`source tasks resolve require() and import() from the daemon's working directory (${cwd}`);
      expect(required.message).not.toMatch(/noop\.js/);

      const importing = new AsyncFunction('x', "return await import('not-installed-anywhere');");
      const imported = (await client.submit(importing, 0).catch((e: unknown) => e)) as Error;
      expect(imported).toBeInstanceOf(Error);
      expect(imported.message).toMatch(/not-installed-anywhere/);
      expect(imported.message).toContain(`from the daemon's working directory (${cwd}`);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
