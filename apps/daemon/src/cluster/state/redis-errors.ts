/**
 * redis-errors.ts - what a failed Redis command means to a state request. A
 * command that never got an answer (Redis unreachable, the connection closed
 * or timed out, Redis loading or read-only after a failover) is E_UNAVAILABLE:
 * the write may or may not have been applied, and only a resend with the same
 * request id can tell (it is answered from the kept reply if it was). Redis
 * out of memory is E_NO_SPACE, nothing written. Any other refusal is a bug
 * here (E_INTERNAL): requests are validated before they reach Redis, so a
 * client can never make Redis itself refuse one.
 */
import { CorepoolError, InternalError, NoSpaceError, UnavailableError } from '@corepool/protocol';

const UNAVAILABLE = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF)\b/;

/** The coded error for a failed Redis command. */
export function storeError(err: unknown): CorepoolError {
  if (err instanceof CorepoolError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // Replies Redis gave are ReplyErrors (redis-errors); anything else never reached an answer.
  if (err instanceof Error && err.name === 'ReplyError') {
    if (message.startsWith('OOM')) return new NoSpaceError(`Redis is out of memory (maxmemory): ${message}`);
    if (UNAVAILABLE.test(message)) return new UnavailableError(`Redis cannot take state writes now: ${message}`);
    return new InternalError(`Redis refused a state command: ${message}`);
  }
  return new UnavailableError(`cannot reach Redis: ${message}`);
}
