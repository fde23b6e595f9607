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
 * with it (timeout: timeoutMs) or that it starts with (limits: limit), of four letters or more.
 */
function likelyMeant(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = known.find((k) => k.toLowerCase() === lower);
  if (exact !== undefined || lower.length < 4) return exact;
  return known.find((k) => k.length >= 4 && (k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase())));
}
