/**
 * What the primary loads before it forks its workers is on every start's
 * critical path: the workers boot only after it (daemon.ts loads what serves
 * clients after the fork, while they boot). A static import from the daemon's
 * module into the serving code (session.ts, for one function) once put ws and
 * the whole session layer before the fork. This reads the bundle's static
 * import graph from the CLI through the daemon's chunk (dynamic imports load
 * later) and checks that none of the serving side is in it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), '..', 'bundle');

/** The files `file` imports statically (`import ... from "./x.js"`, `import "./x.js"`), not `import("./x.js")`. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import\s[^;]*?from\s*|import\s*)"(\.{1,2}\/[^"]+)";?$/gms)) out.push(join(dirname(file), m[1]!));
  return out;
}

/** Every bundle file loaded, transitively, by static imports from `roots`. */
function closure(roots: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...staticImports(f));
  }
  return seen;
}

describe('the primary before it forks', () => {
  it('loads neither ws, the session layer, the state store, prom-client nor pino', () => {
    const cli = join(BUNDLE, 'cli.js');
    // `daemon start` imports the daemon's chunk (named by its hash) when it runs.
    const daemonChunk = /import\("(\.\/chunks\/daemon-[A-Z0-9]+\.js)"\)/.exec(readFileSync(cli, 'utf8'))?.[1];
    expect(daemonChunk, "the CLI's import of the daemon chunk").toBeDefined();
    const loaded = closure([cli, join(BUNDLE, daemonChunk!)]);
    // The reading itself works: the CLI's own chunks are found.
    expect(loaded.size).toBeGreaterThan(3);
    const text = [...loaded].map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const marker of [
      'node_modules/ws/lib/websocket-server.js',
      '// src/primary/session.ts',
      '// src/primary/outflow.ts',
      '// src/state/shared-state.ts',
      'node_modules/prom-client/',
      'node_modules/pino/',
    ])
      expect(text.includes(marker), `${marker} is loaded before the fork`).toBe(false);
  });
});
