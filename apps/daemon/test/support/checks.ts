/**
 * Checkers over what a test observed: the error code an operation fails
 * with, and the set checker (every index delivered once, with the right value).
 */

/** The `code` a promise (or a function) rejects or throws with, or undefined if it succeeds. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/**
 * The set checker of the plan (Jepsen `set`): per index, the outcomes delivered.
 * Returns lost / duplicated / unexpected index lists and wrong values.
 */
export function checkSet(
  n: number,
  outcomes: Iterable<[index: number, outcome: { ok: true; value: unknown } | { ok: false; error: { code?: string; index?: number } }]>,
  expected: (i: number) => unknown,
  mayFail: (i: number, code: string) => boolean = () => false,
): { lost: number[]; duplicated: number[]; unexpected: number[]; wrong: number[] } {
  const seen = new Uint32Array(n);
  const unexpected: number[] = [];
  const wrong: number[] = [];
  for (const [i, o] of outcomes) {
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      unexpected.push(i);
      continue;
    }
    seen[i]!++;
    if (o.ok) {
      if (!Object.is(o.value, expected(i)) && JSON.stringify(o.value) !== JSON.stringify(expected(i))) wrong.push(i);
    } else if (o.error.index !== i || typeof o.error.code !== 'string' || !mayFail(i, o.error.code)) {
      wrong.push(i);
    }
  }
  const lost: number[] = [];
  const duplicated: number[] = [];
  for (let i = 0; i < n; i++) {
    if (seen[i] === 0) lost.push(i);
    else if (seen[i]! > 1) duplicated.push(i);
  }
  return { lost, duplicated, unexpected, wrong };
}
