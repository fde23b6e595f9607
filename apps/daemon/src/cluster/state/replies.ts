/**
 * replies.ts - a write script's reply (as kept in `rep:`, the same bytes for
 * the first answer and for a resend's) turned into the reply SharedState
 * gives for that operation (shared-state.ts's reply table), and a script's
 * error answer into its CorepoolError.
 */
import { errorClass, InternalError, type CorepoolError, type ErrorCode } from '@corepool/protocol/internal';

/** A script's answer: its word ('ok', 'rep', 'err', 'empty', ...) and the rest. */
export interface ScriptAnswer {
  word: string;
  rest: unknown[];
}

/** Splits a script's reply table. */
export function answer(raw: unknown): ScriptAnswer {
  if (!Array.isArray(raw) || raw.length === 0) throw new InternalError('a state script gave no answer');
  return { word: String(raw[0]), rest: raw.slice(1) };
}

/** The error a script answered {'err', code, message} with. */
export function scriptError(a: ScriptAnswer): CorepoolError {
  const code = String(a.rest[0]) as ErrorCode;
  const message = String(a.rest[1]);
  try {
    return new (errorClass(code))(message);
  } catch {
    return new InternalError(`${code}: ${message}`);
  }
}

/** The bytes of a Buffer reply, as a Uint8Array view (no copy). */
export function bytes(b: unknown): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new InternalError('a state script answered without the bytes');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** A number kept as decimal text. */
export function decimal(b: unknown): number {
  return Number(Buffer.isBuffer(b) ? b.toString() : String(b));
}

/** `version:bytes` (value.init, value.add) -> { version, value }. */
export function versionAndValue(b: unknown): { version: number; value: Uint8Array } {
  const buf = b as Buffer;
  const colon = buf.indexOf(0x3a);
  return { version: Number(buf.subarray(0, colon).toString()), value: bytes(buf.subarray(colon + 1)) };
}

/** `ok:version` (value.cas) -> { ok, version }. */
export function casReply(b: unknown): { ok: boolean; version: number } {
  const s = String(b);
  const colon = s.indexOf(':');
  return { ok: s.slice(0, colon) === '1', version: Number(s.slice(colon + 1)) };
}
