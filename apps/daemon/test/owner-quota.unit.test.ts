/**
 * OwnerQuota: an owner's entries count up to the limit and down as they end, with the state's
 * memory (one machine) and without it (cluster mode's lock and get quotas, where the count alone
 * bounds an owner).
 */
import { describe, expect, it } from 'vitest';
import { OwnerQuota, OWNER_LIMIT } from '../src/state/owner-index.js';
import { StateMemory } from '../src/state/state-memory.js';

describe('OwnerQuota', () => {
  for (const [label, memory] of [
    ['without the state memory (cluster mode)', () => undefined],
    ['with the state memory', () => new StateMemory(64 * 1024 * 1024)],
  ] as const) {
    it(`${label}: entries that end make room, and a whole lifetime past the limit is no fault`, () => {
      const q = new OwnerQuota('locks held or awaited', memory());
      for (let i = 0; i < OWNER_LIMIT; i++) {
        q.check('w:1');
        q.add('w:1');
      }
      expect(() => q.check('w:1')).toThrow(expect.objectContaining({ code: 'E_LIMIT' }) as Error);
      // Another owner is not bounded by this one's entries.
      expect(() => q.check('w:2')).not.toThrow();
      q.remove('w:1');
      expect(() => q.check('w:1')).not.toThrow();
      q.remove('w:1', OWNER_LIMIT);
      // Three limits' worth more, each ended before the next: never refused.
      for (let i = 0; i < 3 * OWNER_LIMIT; i++) {
        q.check('w:1');
        q.add('w:1');
        q.remove('w:1');
      }
      for (let i = 0; i < OWNER_LIMIT; i++) q.add('w:1');
      expect(() => q.check('w:1')).toThrow(expect.objectContaining({ code: 'E_LIMIT' }) as Error);
      q.drop('w:1');
      expect(() => q.check('w:1')).not.toThrow();
    });
  }
});
