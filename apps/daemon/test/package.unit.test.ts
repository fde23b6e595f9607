/** @corepool/daemon's package.json names only files that exist: it is a command (bin), with no library entry. */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as Record<string, unknown>;

/** Every string in a package.json field (exports nest their targets). */
function paths(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (v !== null && typeof v === 'object') return Object.values(v).flatMap(paths);
  return [];
}

describe('@corepool/daemon package.json', () => {
  it('points its bin, main, types and exports at files that exist', () => {
    const named = ['bin', 'main', 'types', 'exports'].flatMap((field) => paths(pkg[field]));
    expect(named).toContain('./bin/corepool.js');
    for (const p of named) expect(existsSync(fileURLToPath(new URL(p, root))), p).toBe(true);
  });

  it('has no library entry: nothing outside imports the daemon, the SDK runs its CLI', () => {
    expect(pkg.main).toBeUndefined();
    expect(Object.keys(pkg.exports as object)).toEqual(['./package.json']);
  });
});
