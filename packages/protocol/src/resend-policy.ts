/**
 * What becomes of a shared-state request whose reply was lost when the link
 * dropped: one table, keyed by every operation, so an operation added to
 * STATE_OPS does not compile until it is classified here. The client reads
 * it to decide what to send again after a reconnect; the daemon, what to
 * answer from a kept reply.
 */
import type { StateOp } from './messages.js';

/**
 * - `resend`: sent again as it is; running it twice gives the same outcome
 *   (reads and subscribes).
 * - `replay`: sent again, and the daemon keeps its outcome until the client
 *   acknowledges it, so the resend gets the same reply, applied once: the
 *   writes; value.init, which never overwrites, yet run again after another
 *   app deleted the value it made brought it back (hostile review); and queue.get (its item and its kept reply are committed together;
 *   an item taken for a connection that closed before the reply goes back, and
 *   the resend takes one afresh), also across a daemon restart.
 * - `fail`: not sent again; it fails with E_CONNECTION, since it may or may
 *   not have been applied. lock.acquire ends with its connection, which
 *   releases the lock anyway; an unsubscribe has nothing left to undo on a
 *   new connection.
 */
export type ResendPolicy = 'resend' | 'replay' | 'fail';

/** The resend policy of every state operation. */
export const RESEND_POLICY: Readonly<Record<StateOp, ResendPolicy>> = {
  'value.get': 'resend',
  'value.init': 'replay',
  'value.set': 'replay',
  'value.add': 'replay',
  'value.cas': 'replay',
  'value.subscribe': 'resend',
  'value.unsubscribe': 'fail',
  'queue.put': 'replay',
  'queue.get': 'replay',
  'queue.size': 'resend',
  'dict.get': 'resend',
  'dict.set': 'replay',
  'dict.delete': 'replay',
  'dict.has': 'resend',
  'dict.keys': 'resend',
  'dict.entries': 'resend',
  'dict.size': 'resend',
  'dict.subscribe': 'resend',
  'dict.unsubscribe': 'fail',
  'lock.acquire': 'fail',
  'lock.release': 'replay',
  'value.remove': 'replay',
  'queue.remove': 'replay',
  'dict.remove': 'replay',
  'state.list': 'resend',
};
