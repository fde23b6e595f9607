/**
 * The HTTP server that upgrades to WebSocket. Before a socket is handed to a
 * Session it is checked like a browser-facing service must be: an upgrade
 * with an Origin header or a foreign Host is refused (403, against DNS
 * rebinding), plain HTTP gets 426, and a client over --max-clients gets
 * close 1013.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CloseCode, ErrorCode, TooManyClientsError, encodeMessage } from '@corepool/protocol';
import { Session, type SessionContext } from './session.js';

export interface ServerOptions {
  host: string;
  port: number;
  maxClients: number;
  maxPayload: number;
  heartbeatMs: number;
}

/** The listening WebSocket server and its sessions. */
export class DaemonServer {
  readonly sessions = new Set<Session>();
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #opts: ServerOptions;
  readonly #ctx: Omit<SessionContext, 'onClose' | 'onAuth'>;
  #heartbeat: NodeJS.Timeout | undefined;
  #allowedHosts: Set<string>;

  constructor(opts: ServerOptions, ctx: Omit<SessionContext, 'onClose' | 'onAuth'>) {
    this.#opts = opts;
    this.#ctx = ctx;
    this.#allowedHosts = new Set(['localhost', '127.0.0.1', '[::1]', '::1', opts.host.toLowerCase()]);
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false, clientTracking: false });
    this.#http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('corepool speaks WebSocket only\n');
    });
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
    this.#http.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Starts listening; resolves to the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(this.#opts.port, this.#opts.host, () => {
        this.#http.off('error', reject);
        const addr = this.#http.address();
        const port = typeof addr === 'object' && addr !== null ? addr.port : this.#opts.port;
        this.#heartbeat = setInterval(() => {
          for (const s of this.sessions) s.heartbeat();
        }, this.#opts.heartbeatMs);
        this.#heartbeat.unref();
        resolve(port);
      });
    });
  }

  /** Stops accepting connections; existing ones stay until closeAll. */
  stopListening(): void {
    clearInterval(this.#heartbeat);
    this.#http.close();
  }

  /** Closes every session with `code`. */
  closeAll(code: number, reason: string): void {
    for (const s of [...this.sessions]) s.close(code, reason);
    this.#http.closeAllConnections();
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (req.headers.origin !== undefined) {
      refuse(socket, 403, 'browser-originated connections (Origin header) are refused');
      return;
    }
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (!this.#allowedHosts.has(host)) {
      refuse(socket, 403, 'unexpected Host header');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.sessions.size >= this.#opts.maxClients) {
        ws.on('error', () => {});
        const error = new TooManyClientsError(`the daemon serves its maximum of ${this.#opts.maxClients} clients`);
        ws.send(encodeMessage({ type: 'error', error: error.toWire() }));
        ws.close(CloseCode.TRY_AGAIN_LATER, ErrorCode.E_TOO_MANY_CLIENTS);
        return;
      }
      const session = new Session(ws, {
        ...this.#ctx,
        onAuth: () => {},
        onClose: (s) => this.sessions.delete(s),
      });
      this.sessions.add(session);
    });
  }
}

function refuse(socket: Duplex, status: number, why: string): void {
  socket.end(`HTTP/1.1 ${status} Forbidden\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${why.length + 1}\r\n\r\n${why}\n`);
}
