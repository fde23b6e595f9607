/**
 * client-steering.ts alone: what weight and cap a client is granted from its
 * hello and the operator's flags, and the flags' parsing (options.ts).
 */
import { describe, expect, it } from 'vitest';
import { steer, type SteeringPolicy } from '../src/primary/client-steering.js';
import { DEFAULT_MAX_CLIENT_WEIGHT, resolveOptions } from '../src/options.js';

const policy = (o: Partial<SteeringPolicy> = {}): SteeringPolicy => ({
  maxClientWeight: 4,
  clientWeights: new Map(),
  clientMaxWorkers: new Map(),
  ...o,
});

describe('steer', () => {
  it('a client asking nothing gets weight 1 and no cap, without a warning', () => {
    expect(steer({}, policy())).toEqual({ weight: 1, maxWorkers: undefined });
  });

  it('an ask within --max-client-weight is granted as is', () => {
    expect(steer({ weight: 3, maxWorkers: 2 }, policy())).toEqual({ weight: 3, maxWorkers: 2 });
  });

  it('an ask above --max-client-weight is clamped, and the warning says why', () => {
    const s = steer({ name: 'greedy', weight: 1000 }, policy());
    expect(s.weight).toBe(4);
    expect(s.warning).toMatch(/weight 1000 asked, 4 given.*--max-client-weight/);
  });

  it("the operator's weight for a name wins over the client's ask, above the bound too", () => {
    const p = policy({ clientWeights: new Map([['batch-jobs', 8]]) });
    expect(steer({ name: 'batch-jobs' }, p)).toEqual({ weight: 8, maxWorkers: undefined });
    const s = steer({ name: 'batch-jobs', weight: 2 }, p);
    expect(s.weight).toBe(8);
    expect(s.warning).toMatch(/operator set the weight of "batch-jobs"/);
    expect(steer({ name: 'other', weight: 2 }, p).weight).toBe(2);
  });

  it("the cap is the lower of the client's and the operator's; the operator's is the name's too, shared by its connections", () => {
    const p = policy({ clientMaxWorkers: new Map([['crawler', 2]]) });
    expect(steer({ name: 'crawler' }, p).maxWorkers).toBe(2);
    expect(steer({ name: 'crawler', maxWorkers: 1 }, p)).toEqual({ weight: 1, maxWorkers: 1, nameMaxWorkers: 2 });
    expect(steer({ name: 'other', maxWorkers: 1 }, p)).toEqual({ weight: 1, maxWorkers: 1 });
    const s = steer({ name: 'crawler', maxWorkers: 5 }, p);
    expect(s.maxWorkers).toBe(2);
    expect(s.warning).toMatch(/maxWorkers 5 asked, 2 given/);
  });
});

describe('the steering flags', () => {
  it('default: a small bound, no names', () => {
    const o = resolveOptions({ workers: 1 });
    expect(o.maxClientWeight).toBe(DEFAULT_MAX_CLIENT_WEIGHT);
    expect(o.clientWeights.size).toBe(0);
    expect(o.clientMaxWorkers.size).toBe(0);
  });

  it('name=N, repeatable; the name is everything before the last =', () => {
    const o = resolveOptions({ workers: 1, clientWeights: ['a=3', 'x=y=2'], clientMaxWorkers: ['crawler=1'], maxClientWeight: '2' });
    expect([...o.clientWeights]).toEqual([
      ['a', 3],
      ['x=y', 2],
    ]);
    expect([...o.clientMaxWorkers]).toEqual([['crawler', 1]]);
    expect(o.maxClientWeight).toBe(2);
  });

  it('bad values are refused with the flag named', () => {
    expect(() => resolveOptions({ workers: 1, clientWeights: ['noequals'] })).toThrow(/--client-weight must be name=N/);
    expect(() => resolveOptions({ workers: 1, clientWeights: ['=3'] })).toThrow(/--client-weight must be name=N/);
    expect(() => resolveOptions({ workers: 1, clientWeights: ['a=0'] })).toThrow(/--client-weight must be between 1 and/);
    expect(() => resolveOptions({ workers: 1, clientWeights: ['a=1.5'] })).toThrow(/--client-weight must be an integer/);
    expect(() => resolveOptions({ workers: 1, clientMaxWorkers: ['a=-1'] })).toThrow(/--client-max-workers must be between 1 and/);
    expect(() => resolveOptions({ workers: 1, maxClientWeight: '0' })).toThrow(/--max-client-weight must be between 1 and 1000/);
    expect(() => resolveOptions({ workers: 1, maxClientWeight: 'lots' })).toThrow(/--max-client-weight must be an integer/);
  });
});
