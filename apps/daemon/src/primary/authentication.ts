/**
 * Authentication of a client connection: its first message must be a hello
 * with the daemon's token (compared in constant time) and protocol version,
 * within the authentication deadline. Until then its frames are limited to
 * preAuthMaxPayload, so unauthenticated peers cannot make the daemon buffer
 * a full frame each; from then on to maxPayload.
 */
import {
  AuthError,
  CloseCode,
  PROTOCOL_VERSION,
  ProtocolVersionError,
  type ClientMessage,
  type CorepoolError,
  type Hello,
} from '@corepool/protocol/internal';
import { MIN_TOKEN_LENGTH, tokenMatches } from './token.js';

/** The secret and limits authentication applies. */
export interface AuthenticationOptions {
  token: string;
  maxPayload: number;
  preAuthMaxPayload: number;
  authDeadlineMs: number;
}

/** What authentication asks of its connection. */
export interface AuthenticationHost {
  /** The largest frame payload the connection accepts from now on. */
  setFrameLimit(bytes: number): void;
  /** Sends `e`, then closes with `code` and e's code as the reason. */
  refuse(e: CorepoolError, code: number): void;
}

/** One connection's authentication. */
export class Authentication {
  readonly #opts: AuthenticationOptions;
  readonly #host: AuthenticationHost;
  #authed = false;
  #deadline: NodeJS.Timeout | undefined;

  constructor(opts: AuthenticationOptions, host: AuthenticationHost) {
    this.#opts = opts;
    this.#host = host;
    host.setFrameLimit(opts.preAuthMaxPayload);
    this.#deadline = setTimeout(() => this.fail(new AuthError('no hello within the authentication deadline')), opts.authDeadlineMs);
  }

  /** True once a hello authenticated the client. */
  get authed(): boolean {
    return this.#authed;
  }

  /** Checks the first message: the hello that authenticates the client, or undefined (refused, the connection closes). */
  hello(msg: ClientMessage): Hello | undefined {
    if (msg.type !== 'hello') {
      this.fail(new AuthError(`the first message must be hello, not ${msg.type}`));
      return undefined;
    }
    if (!tokenMatches(this.#opts.token, msg.token)) {
      // One shorter than any daemon takes is said to be (the minimum is no secret): a token cut when
      // copied, or a name or path passed in its place, is then told apart from another daemon's token.
      const n = msg.token.length;
      this.fail(
        new AuthError(
          n < MIN_TOKEN_LENGTH
            ? `wrong token: it has ${n} characters, and a daemon's token has at least ${MIN_TOKEN_LENGTH}`
            : 'wrong token',
        ),
      );
      return undefined;
    }
    if (msg.v !== PROTOCOL_VERSION) {
      this.#host.refuse(new ProtocolVersionError(`daemon speaks protocol ${PROTOCOL_VERSION}, client ${msg.v}`), CloseCode.PROTOCOL_ERROR);
      return undefined;
    }
    this.end();
    this.#authed = true;
    this.#host.setFrameLimit(this.#opts.maxPayload);
    return msg;
  }

  /** The first message did not parse (`e` says why), so it is no hello. */
  notHello(e: CorepoolError): void {
    this.fail(new AuthError(`the first message must be hello with a token (${e.message})`));
  }

  /** Authentication failed: the connection is refused with `err`. */
  fail(err: CorepoolError): void {
    this.end();
    this.#host.refuse(err, CloseCode.POLICY);
  }

  /** Stops the deadline (authenticated, or the connection closed). */
  end(): void {
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }
}
