/** Every code has one class, and the wire form rebuilds the same class with its details. */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/codes.js';
import {
  ClusterRefusedError,
  ClusterUnreachableError,
  CorepoolError,
  UnavailableError,
  ReloadRunningError,
  CodeReplacedError,
  InitFailedError,
  DaemonRunningError,
  TaskError,
  errorClass,
  fromWire,
} from '../src/errors.js';

describe('errors', () => {
  it('maps every code to its own class', () => {
    const names = new Set<string>();
    for (const code of Object.values(ErrorCode)) {
      const Cls = errorClass(code);
      const e = new Cls('m');
      expect(e).toBeInstanceOf(CorepoolError);
      expect(e.code).toBe(code);
      names.add(e.name);
    }
    expect(names.size).toBe(Object.values(ErrorCode).length);
  });

  it('round-trips through the wire form', () => {
    const e = new TaskError('boom', { index: 4, remoteName: 'RangeError', remoteStack: 'RangeError: boom\n    at f' });
    const back = fromWire(e.toWire());
    expect(back).toBeInstanceOf(TaskError);
    expect(back).toMatchObject({ code: 'E_TASK_FAILED', index: 4, remoteName: 'RangeError', message: 'boom' });
    expect(back.stack).toContain('--- remote ---');
  });

  it('carries every detail through the wire form, and an absent one is not a property', () => {
    const details = { index: 1, remoteName: 'TypeError', remoteStack: 'at f', attempts: 3, timeoutMs: 50, thrown: '42' };
    const wire = new TaskError('m', details).toWire();
    expect(wire).toEqual({ code: 'E_TASK_FAILED', message: 'm', ...details });
    expect(Object.keys(wire)).toEqual(['code', 'message', ...Object.keys(details)]);
    expect(fromWire(wire)).toMatchObject(details);
    const bare = new TaskError('m', { attempts: 2 });
    expect(Object.keys(bare.toWire())).toEqual(['code', 'message', 'attempts']);
    expect(Object.hasOwn(bare, 'index')).toBe(false);
  });

  it('has a class for each cluster-mode, reload and initializer code, rebuilt from the wire', () => {
    for (const [Cls, code] of [
      [ClusterUnreachableError, 'E_CLUSTER_UNREACHABLE'],
      [ClusterRefusedError, 'E_CLUSTER_REFUSED'],
      [UnavailableError, 'E_UNAVAILABLE'],
      [ReloadRunningError, 'E_RELOAD_RUNNING'],
      [CodeReplacedError, 'E_CODE_REPLACED'],
      [InitFailedError, 'E_INIT_FAILED'],
      [DaemonRunningError, 'E_DAEMON_RUNNING'],
    ] as const) {
      const e = new Cls('redis says no');
      expect(e).toMatchObject({ code, name: Cls.name, message: 'redis says no' });
      expect(errorClass(code)).toBe(Cls);
      expect(fromWire(e.toWire())).toBeInstanceOf(Cls);
    }
  });
});
