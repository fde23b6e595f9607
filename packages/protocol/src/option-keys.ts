/**
 * The one check every options object of the public API makes of its keys: a
 * key the call does not know is an E_BAD_ARGUMENT, not ignored. A mistyped
 * option (`chunksize`, Python's spelling; `timeout` for `timeoutMs`) would
 * otherwise run the call with the default the user meant to change.
 */
import { BadArgumentError } from './errors.js';

/** Throws BadArgumentError naming the first own key of `options` not in `known` (and the known key it likely meant). */
export function checkOptionKeys(options: object, known: readonly string[], call: string): void {
  for (const key in options) {
    if (!Object.hasOwn(options, key) || known.includes(key)) continue;
    const meant = likelyMeant(key, known);
    throw new BadArgumentError(
      `${call} has no option ${JSON.stringify(key)}${meant === undefined ? '' : ` (did you mean ${meant}?)`}; its options are ${known.join(', ')}`,
    );
  }
}

/**
 * The known key `key` likely stands for: the same letters in another case, else one that starts
 * with it (timeout: timeoutMs) or that it starts with (limits: limit), else one it misspells
 * (timout: timeoutMs, chunkSzie: chunkSize), of four letters or more.
 */
function likelyMeant(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = known.find((k) => k.toLowerCase() === lower);
  if (exact !== undefined || lower.length < 4) return exact;
  const affix = known.find((k) => k.length >= 4 && (k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase())));
  if (affix !== undefined) return affix;
  // A typo: a letter left out, added, changed or two swapped, in the key or in the prefix of it the user typed.
  const allowed = lower.length >= 6 ? 2 : 1;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const k of known) {
    if (k.length < 4) continue;
    const kl = k.toLowerCase();
    const d = Math.min(typos(lower, kl), typos(lower, kl.slice(0, lower.length)), typos(lower, kl.slice(0, lower.length + 1)));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Edits between a and b, a swap of two neighbours counting as one (optimal string alignment distance). */
function typos(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]!.push(d);
    }
  }
  return rows[a.length]![b.length]!;
}
