/**
 * ignore.ts - the one do-nothing listener: for an error event nobody needs, or a
 * promise kept only so that its rejection is not unhandled. Shared, so that a hot
 * path passes the same function each time instead of making a closure.
 */
export function ignore(): void {}
