/**
 * CallerStack: the app's frames below the SDK method it called, at most
 * CALLER_FRAMES of them, with the app's Error.stackTraceLimit left as it was.
 */
import { runInThisContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { CallerStack } from '../src/caller-stack.js';

const original = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')!;
afterEach(() => {
  Object.defineProperty(Error, 'stackTraceLimit', original);
});

/** Stands for a public SDK method: the stack is taken in it. */
function sdkEntry(): CallerStack {
  return new CallerStack(sdkEntry);
}

/**
 * An app that calls sdkEntry from `depth` frames of its own, compiled under a path outside
 * this package (the frames of files inside it are the SDK's own, and left out).
 */
const appFrame = runInThisContext(
  '(function (sdkEntry) { return function appFrame(depth) { return depth === 0 ? sdkEntry() : appFrame(depth - 1); }; })',
  { filename: '/srv/app/caller.js' },
)(sdkEntry) as (depth: number) => CallerStack;

describe('CallerStack', () => {
  it("keeps the app's six nearest frames, none of the entry's, and leaves Error.stackTraceLimit as it was", () => {
    Error.stackTraceLimit = 50;
    const frames = appFrame(20).frames.split('\n');
    expect(frames).toHaveLength(6);
    expect(frames.every((f) => f.includes('appFrame'))).toBe(true);
    expect(Error.stackTraceLimit).toBe(50);
  });

  it('keeps fewer when the app asks for fewer', () => {
    Error.stackTraceLimit = 2;
    expect(appFrame(20).frames.split('\n')).toHaveLength(2);
    Error.stackTraceLimit = 0;
    expect(appFrame(20).frames).toBe('');
    expect(Error.stackTraceLimit).toBe(0);
  });

  it("keeps the app's frames when Error.stackTraceLimit cannot be set (frozen intrinsics), under the app's own limit", () => {
    Object.defineProperty(Error, 'stackTraceLimit', { value: 10, writable: false, configurable: true });
    const caller = appFrame(3);
    expect(Error.stackTraceLimit).toBe(10);
    // Not capped to six: up to the app's 10, appFrame(3) down to appFrame(0) first.
    const frames = caller.frames.split('\n');
    expect(frames.slice(0, 4).every((f) => f.includes('appFrame'))).toBe(true);
    expect(frames.length).toBeGreaterThan(6);
    expect(frames.length).toBeLessThanOrEqual(10);
    const err = caller.attach(Object.assign(new Error('boom'), { remoteStack: 'at task (remote)' }));
    expect(err.stack).toMatch(/^Error: boom\n {4}at appFrame/);
    expect(err.stack).toMatch(/--- remote ---\nat task \(remote\)$/);
  });

  it('never throws, whatever Error.stackTraceLimit is made of', () => {
    Object.defineProperty(Error, 'stackTraceLimit', { value: Number.NaN, writable: false, configurable: true });
    expect(() => appFrame(2)).not.toThrow();
    Object.defineProperty(Error, 'stackTraceLimit', {
      get: () => {
        throw new Error('no limit for you');
      },
      configurable: true,
    });
    expect(() => appFrame(2)).not.toThrow();
  });
});
