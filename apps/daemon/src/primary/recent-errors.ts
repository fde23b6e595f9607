/**
 * The latest errors the daemon returned or saw, for `daemon status`: failed
 * items, replaced workers, refused requests. Bounded however errors come: a
 * repeat of the same code from the same client updates that client's entry
 * (newest again, its count of repeats grown) instead of adding one, a client
 * holds at most PER_CLIENT entries, the whole at most MAX_ENTRIES, and a
 * message at most MAX_MESSAGE characters. So a client failing a million
 * items takes one entry per error code it gets, and the daemon's own entries
 * (worker replacements) and other clients' stay in view.
 */

/** One entry of `status.recentErrors`. */
export interface RecentError {
  /** When it last happened (ms since the epoch). */
  at: number;
  code: string;
  message: string;
  /** The client's name, where one client's request or item failed. */
  client?: string;
  /** Times it happened (same client and code) when more than once. */
  repeats?: number;
}

export const MAX_ENTRIES = 50;
export const PER_CLIENT = 5;
export const MAX_MESSAGE = 300;
/** Client names are cut to this length (a name is the client's to choose). */
const MAX_NAME = 100;

export class RecentErrors {
  /** Oldest first. */
  readonly #entries: RecentError[] = [];

  /** Records `times` occurrences of an error (the last one's message kept). */
  add(code: string, message: string, client?: string, times = 1, at = Date.now()): void {
    const name = client?.slice(0, MAX_NAME);
    const entries = this.#entries;
    let same = -1;
    let mine = 0;
    let oldestMine = -1;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.client !== name) continue;
      if (e.code === code) same = i;
      if (oldestMine < 0) oldestMine = i;
      mine++;
    }
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
    if (same >= 0) {
      const e = entries.splice(same, 1)[0]!;
      e.at = at;
      e.message = text;
      e.repeats = (e.repeats ?? 1) + times;
      entries.push(e);
      return;
    }
    if (mine >= PER_CLIENT) entries.splice(oldestMine, 1);
    else if (entries.length >= MAX_ENTRIES) entries.shift();
    entries.push({ at, code, message: text, ...(name === undefined ? {} : { client: name }), ...(times > 1 ? { repeats: times } : {}) });
  }

  /** The entries, newest last (copies). */
  list(): RecentError[] {
    return this.#entries.map((e) => ({ ...e }));
  }
}
