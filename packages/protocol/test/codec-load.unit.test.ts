/**
 * The codec loads msgpackr on first use (codec.ts): from its own package,
 * whatever `require` an app has put on globalThis (a common ES module shim),
 * even one that cannot find msgpackr at all.
 */
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';

it("loads msgpackr from its own package, not through an app's global require", async () => {
  const g = globalThis as { require?: unknown };
  const before = g.require;
  g.require = createRequire('/nonexistent-corepool-app/');
  try {
    const { decodeData, decodeMessage, encodeData, encodeMessage } = await import('../src/codec.js');
    expect(decodeMessage(encodeMessage({ type: 'ping', n: 1 }))).toEqual({ type: 'ping', n: 1 });
    expect(decodeData(encodeData(new Map([[1, 'x']])))).toEqual(new Map([[1, 'x']]));
  } finally {
    g.require = before;
  }
});
