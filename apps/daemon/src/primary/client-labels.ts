/**
 * The `client` label of per-client metrics, bounded: a client's name is its
 * own to choose, and an app connecting under 10,000 names must not make
 * 10,000 series. The first MAX_CLIENT_LABELS names seen at once get a label
 * each; any further name counts under OTHER until a label frees up. A label
 * is freed (and its series dropped, by whoever `onFree` tells) when the last
 * connection under that name leaves, so names that come and go do not pile up.
 */

/** Names with a label of their own at once. */
export const MAX_CLIENT_LABELS = 32;
/** The label of every client past the bound. */
export const OTHER = 'other';
/** Longest label value (a name is cut to it). */
const MAX_LABEL = 64;

export class ClientLabels {
  readonly #max: number;
  readonly #onFree: (label: string) => void;
  /** Connections holding each label. */
  readonly #refs = new Map<string, number>();

  constructor(onFree: (label: string) => void, max = MAX_CLIENT_LABELS) {
    this.#onFree = onFree;
    this.#max = max;
  }

  /** A connection under `name` takes its label: its own name's, or OTHER past the bound. Give it back with `release`. */
  take(name: string): string {
    const label = name === '' ? '(unnamed)' : name.slice(0, MAX_LABEL);
    if (label === OTHER) return OTHER;
    const refs = this.#refs.get(label);
    if (refs !== undefined) {
      this.#refs.set(label, refs + 1);
      return label;
    }
    if (this.#refs.size >= this.#max) return OTHER;
    this.#refs.set(label, 1);
    return label;
  }

  /** A connection that took `label` is gone. */
  release(label: string): void {
    const refs = this.#refs.get(label);
    if (refs === undefined) return;
    if (refs > 1) {
      this.#refs.set(label, refs - 1);
      return;
    }
    this.#refs.delete(label);
    this.#onFree(label);
  }
}
