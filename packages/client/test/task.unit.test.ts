/** Tasks on the wire: source hashed once per function; module paths become file: URLs. */
import { describe, expect, it } from 'vitest';
import { task, toTaskSpec } from '../src/task.js';

describe('task', () => {
  it('hashes function source and caches the spec', () => {
    const f = (x: number): number => x + 1;
    const a = toTaskSpec(f);
    expect(a).toMatchObject({ kind: 'source', source: f.toString() });
    expect(toTaskSpec(f)).toBe(a);
  });
  it('refuses native and bound functions and non-functions with E_BAD_TASK', () => {
    expect(() => toTaskSpec(Math.max)).toThrow(expect.objectContaining({ code: 'E_BAD_TASK' }));
    expect(() => toTaskSpec(((x: number) => x).bind(null))).toThrow(expect.objectContaining({ code: 'E_BAD_TASK' }));
    expect(() => toTaskSpec('x => x')).toThrow(expect.objectContaining({ code: 'E_BAD_TASK' }));
  });
  it('turns paths into file: URLs and refuses other schemes', () => {
    expect(task('/tmp/t.mjs', 'f')).toEqual({ kind: 'module', url: 'file:///tmp/t.mjs', name: 'f' });
    expect(task('rel/t.mjs').url).toMatch(/^file:\/\/.*\/rel\/t\.mjs$/);
    expect(() => task('https://example.com/t.mjs', 'f')).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
  });
  it("resolves an installed package's name to its file, and says where it looked for one that is not there", () => {
    expect(task('ws', 'WebSocket').url).toMatch(/^file:\/\/.*\/node_modules\/ws\/.*\.(c|m)?js$/);
    expect(() => task('no-such-package-anywhere', 'f')).toThrow(
      expect.objectContaining({
        code: 'E_BAD_ARGUMENT',
        message: expect.stringMatching(/neither a file \(relative to .*\) nor a package installed there/) as string,
      }),
    );
  });
});
