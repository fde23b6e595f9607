/**
 * The SDK's public surface: the values are `connect`, `task` and the error
 * classes (the client and the handles come from connect() and its methods,
 * so they are types only), and every type a public signature mentions is
 * exported too, so users can name what they get (a LockGrant, the
 * TimeoutOptions they pass). The type assertions are checked by
 * `npm run check-types`; the walk over the signatures runs the compiler.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as sdk from '../src/index.js';
import type { Client, Dict, Lock, LockGrant, Queue, TaskContext, TimeoutOptions, Value, ValueOptions } from '../src/index.js';

const ERROR_CLASSES = [
  'CorepoolError',
  'AuthError',
  'BadMessageError',
  'TooLargeError',
  'ProtocolVersionError',
  'BadArgumentError',
  'BadTaskError',
  'SourceDisabledError',
  'NotCloneableError',
  'TaskError',
  'TimeoutError',
  'WorkerCrashedError',
  'CancelledError',
  'NoSuchValueError',
  'ValueTypeError',
  'BadNameError',
  'LockNotHeldError',
  'TooManyClientsError',
  'SlowConsumerError',
  'FlowControlError',
  'LimitError',
  'NoSpaceError',
  'ReplyDroppedError',
  'ShuttingDownError',
  'ConnectionError',
  'ClosedError',
  'InternalError',
  'ClusterUnreachableError',
  'ClusterRefusedError',
  'UnavailableError',
  'ReloadRunningError',
  'CodeReplacedError',
  'InitFailedError',
  'DaemonRunningError',
];

describe('@corepool/client public surface', () => {
  it('exports connect, task, ErrorCode and the error classes as values, and nothing else', () => {
    expect(Object.keys(sdk).sort()).toEqual(['connect', 'task', 'ErrorCode', ...ERROR_CLASSES].sort());
    expect('Client' in sdk).toBe(false);
    for (const name of ['Value', 'Queue', 'Dict', 'Lock']) expect(name in sdk).toBe(false);
  });

  it('names the types its signatures use', () => {
    expectTypeOf<Client['lock']>().returns.toEqualTypeOf<Lock>();
    expectTypeOf<Client['value']>().returns.toEqualTypeOf<Value<unknown>>();
    expectTypeOf<Client['value']>().parameter(1).toEqualTypeOf<ValueOptions<unknown> | undefined>();
    expectTypeOf<Client['queue']>().returns.toEqualTypeOf<Queue<unknown>>();
    expectTypeOf<Client['dict']>().returns.toEqualTypeOf<Dict<unknown>>();
    expectTypeOf<Lock['acquire']>().returns.resolves.toEqualTypeOf<LockGrant>();
    expectTypeOf<Lock['acquire']>().parameter(0).toEqualTypeOf<TimeoutOptions | undefined>();
    expectTypeOf<Queue<number>['get']>().parameter(0).toEqualTypeOf<TimeoutOptions | undefined>();
    expectTypeOf<TaskContext['lock']>().returns.toEqualTypeOf<Lock>();
    expectTypeOf<sdk.TaskFunction<number, string>>().parameter(1).toEqualTypeOf<TaskContext>();
    // One URL, a list to fail over along, or only options; the client says which daemon it uses.
    expectTypeOf(sdk.connect).toBeCallableWith('ws://127.0.0.1:7420', { token: 't' });
    expectTypeOf(sdk.connect).toBeCallableWith(['ws://a:7420', 'ws://b:7420']);
    expectTypeOf(sdk.connect).toBeCallableWith({ spawn: true });
    expectTypeOf(sdk.connect).toBeCallableWith();
    expectTypeOf<Client['url']>().toEqualTypeOf<string>();
  });

  it('every type of this repository that an exported signature mentions is exported as well', () => {
    expect(unexportedTypes()).toEqual([]);
  }, 60_000);

  it('publishes no @internal member: the build strips them, so Client.open and its Welcome stay out', () => {
    const dts = emittedDeclarations('client.ts');
    expect(dts).toContain('declare class Client');
    expect(dts).toContain('map<I, R>(');
    expect(dts).not.toMatch(/@internal|\bopen\(|\bWelcome\b|OpenSocket/);
  }, 60_000);
});

/** The declaration file the package build (tsconfig.build.json) writes for one source file. */
function emittedDeclarations(file: string): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.build.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  if (config === undefined) throw new Error('cannot read tsconfig.build.json');
  const source = join(root, 'src', file);
  const program = ts.createProgram([source], config.options);
  let dts = '';
  program.emit(
    program.getSourceFile(source),
    (name, text) => {
      if (name.endsWith(file.replace(/\.ts$/, '.d.ts'))) dts = text;
    },
    undefined,
    true,
  );
  return dts;
}

/**
 * Walks the public signatures of everything src/index.ts exports (members,
 * parameters, results, type arguments; not private, protected or @internal
 * members, and not the constructors of type-only exports, which users cannot
 * call) and
 * returns the names of the types declared in this repository's packages that
 * are reached but not exported.
 */
function unexportedTypes(): string[] {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  if (config === undefined) throw new Error('cannot read tsconfig.json');
  const index = join(root, 'src', 'index.ts');
  const program = ts.createProgram([index], config.options);
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(index)!)!;
  const resolve = (s: ts.Symbol): ts.Symbol => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const exportedSymbols = checker.getExportsOfModule(moduleSymbol);
  const exported = new Set(exportedSymbols.map(resolve));
  const ours = (s: ts.Symbol): boolean =>
    (s.declarations ?? []).some((d) => /[\\/]packages[\\/](client|protocol)[\\/]/.test(d.getSourceFile().fileName));
  const missing = new Set<string>();
  const seen = new Set<ts.Type>();

  const visitSignature = (sig: ts.Signature): void => {
    for (const p of sig.getParameters()) visitType(checker.getTypeOfSymbol(p));
    visitType(sig.getReturnType());
  };
  const visitMembers = (t: ts.Type): void => {
    for (const prop of t.getProperties()) {
      const decl = prop.valueDeclaration ?? prop.declarations?.[0];
      if (decl !== undefined && ts.getCombinedModifierFlags(decl) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      if (prop.getName().startsWith('#') || prop.getName().startsWith('__@')) continue;
      // Marked @internal (Client.open, called by connect()): not for users.
      if (decl !== undefined && ts.getJSDocTags(decl).some((tag) => tag.tagName.text === 'internal')) continue;
      visitType(checker.getTypeOfSymbol(prop));
    }
    for (const sig of t.getCallSignatures()) visitSignature(sig);
  };
  function visitType(t: ts.Type): void {
    if (seen.has(t)) return;
    seen.add(t);
    if (t.flags & ts.TypeFlags.TypeParameter) return;
    const named = t.aliasSymbol ?? t.getSymbol();
    if (
      named !== undefined &&
      ours(named) &&
      named.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum)
    ) {
      if (!exported.has(named)) missing.add(named.getName());
      for (const a of t.aliasTypeArguments ?? []) visitType(a);
      if (t.flags & ts.TypeFlags.Object && (t as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) {
        for (const a of checker.getTypeArguments(t as ts.TypeReference)) visitType(a);
      }
      return;
    }
    if (t.isUnionOrIntersection()) for (const part of t.types) visitType(part);
    for (const a of t.aliasTypeArguments ?? []) visitType(a);
    if (t.flags & ts.TypeFlags.Object) {
      const obj = t as ts.ObjectType;
      if (obj.objectFlags & ts.ObjectFlags.Reference) for (const a of checker.getTypeArguments(t as ts.TypeReference)) visitType(a);
      if (obj.objectFlags & (ts.ObjectFlags.Anonymous | ts.ObjectFlags.Mapped)) visitMembers(t);
    }
  }

  for (const s of exportedSymbols) {
    const target = resolve(s);
    const typeOnly = (s.declarations ?? []).some((d) => ts.isTypeOnlyImportOrExportDeclaration(d));
    if (target.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface)) {
      visitMembers(checker.getDeclaredTypeOfSymbol(target));
      if (target.flags & ts.SymbolFlags.Class && !typeOnly) {
        for (const sig of checker.getTypeOfSymbol(target).getConstructSignatures()) visitSignature(sig);
      }
    } else if (target.flags & ts.SymbolFlags.TypeAlias) {
      visitType(checker.getDeclaredTypeOfSymbol(target));
      const declared = checker.getDeclaredTypeOfSymbol(target);
      if (declared.flags & ts.TypeFlags.Object) visitMembers(declared);
    } else if (target.flags & ts.SymbolFlags.Function) {
      for (const sig of checker.getTypeOfSymbol(target).getCallSignatures()) visitSignature(sig);
    }
  }
  return [...missing].sort();
}
