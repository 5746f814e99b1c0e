/**
 * The server's TLS listener, with two engines behind one
 * {@linkcode Connection}, and the client-side wrappers of a finished TLS
 * socket.
 *
 * - `node` (default): `node:tls` inside Deno, with noDelay. Measured here, it
 *   serves a booth-sized echo 12x faster than `Deno.listenTls` at
 *   concurrency 1 and 2.6x at 16. Deno 2.9.6's `node:tls` keeps reading and
 *   decrypting a paused socket (a peer that is not read from filled 300 MB
 *   in a second), so TLS runs over a stream of our own on the raw TCP
 *   socket, and the raw socket is what pauses: the peer then waits in its
 *   own TCP window.
 * - `deno`: `Deno.listenTls`, the design card's choice. On Deno 2.9.6 its
 *   accepted sockets keep Nagle's algorithm on (40 ms delayed-ACK stalls),
 *   and a connection closed before its handshake completes keeps its TCP
 *   socket open indefinitely, so silent sockets cannot be reaped. Kept
 *   working and tested for the day Deno fixes both.
 *
 * Both engines read only as fast as the session asks (the source is pulled,
 * with a small read-ahead), write through the connection's bounded queue,
 * and keep accepting whatever error one accept ends with.
 *
 * @module
 */

import tls from "node:tls";
import { Duplex } from "node:stream";
import { CLOSE_GRACE_MS, formatPeer } from "./connection.ts";
import type { Connection, PeerInfo } from "./connection.ts";
import {
  denoConnection,
  nodeConnection,
  tcpCarrier,
} from "./tls_connection.ts";
import type { TcpCarrier } from "./tls_connection.ts";

/** The TLS engines the server can listen with. */
export type TlsEngine = "node" | "deno";

/** A TCP connection just accepted, before its TLS handshake. */
export interface AcceptedSocket extends PeerInfo {
  /** Closes the socket, whatever phase it is in. */
  drop(): void;
}

/** Options of {@linkcode listenTls}. */
export interface ListenOptions {
  /** Which TLS implementation to listen with. */
  engine: TlsEngine;
  /** Address to listen on. */
  hostname: string;
  /** 0 takes a free port. */
  port: number;
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** Milliseconds a peer has to finish the TLS handshake. */
  handshakeTimeoutMs: number;
  /**
   * Decides, as soon as a TCP connection is accepted and before any TLS,
   * whether to keep it.
   *
   * @returns false to close it at once.
   */
  onAccept: (socket: AcceptedSocket) => boolean;
  /** Called once for every kept socket when it closes, in any phase. */
  onClose: (peer: string) => void;
  /** Called with each connection whose handshake completed. */
  onConnection: (connection: Connection) => void;
  /** Called when a peer's TLS handshake fails or times out. */
  onHandshakeFailure?: (peer: string, reason: string) => void;
  /**
   * Called when accepting fails (out of descriptors, say); the listener
   * keeps accepting, after a pause of {@linkcode ACCEPT_RETRY_MS}.
   */
  onAcceptError?: (error: Error) => void;
}

/** A listening TLS server; closing it closes every open connection. */
export interface TlsListener extends AsyncDisposable {
  /** The address actually bound (the real port when 0 was asked for). */
  readonly hostname: string;
  /** The port actually bound. */
  readonly port: number;
  /** Stops accepting and closes every open connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Milliseconds between a failed accept and the next try: long enough not to
 * spin while descriptors are exhausted, short enough that a voter hardly
 * notices once they free up.
 */
export const ACCEPT_RETRY_MS = 100;

/**
 * Starts a TLS listener on the chosen engine. TLS 1.2 and 1.3 only.
 *
 * @example
 * ```ts ignore
 * await using listener = await listenTls({
 *   engine: "node", hostname: "127.0.0.1", port: 0, cert, key,
 *   handshakeTimeoutMs: 60_000,
 *   onAccept: () => true,
 *   onClose: () => {},
 *   onConnection: (connection) => connection.close(),
 * });
 * ```
 *
 * @param options Engine, address, key material and callbacks.
 * @returns The listener once it is accepting connections.
 * @throws {Error} When the address cannot be bound or the key material is
 * unusable.
 */
export function listenTls(options: ListenOptions): Promise<TlsListener> {
  return options.engine === "node"
    ? listenNodeTls(options)
    : listenDenoTls(options);
}

function listenNodeTls(options: ListenOptions): Promise<TlsListener> {
  const secureContext = tls.createSecureContext({
    cert: options.cert,
    key: options.key,
    minVersion: "TLSv1.2",
  });
  // The first TLS socket over a stream of ours costs Deno 150 ms of
  // loading and compiling: paid here, before listening, rather than by the
  // first voter.
  new tls.TLSSocket(new Duplex({ read() {} }), {
    isServer: true,
    secureContext,
  })
    .destroy();
  // Accepted by Deno.listen, not node:net: Deno 2.9.6's node:net server
  // stops accepting for good after one EMFILE, without a word.
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
  });
  return Promise.resolve(
    acceptLoop(listener, options, (conn, info, close) => {
      conn.setNoDelay(true);
      startNodeTls(tcpCarrier(conn, close), info, secureContext, options);
    }),
  );
}

function startNodeTls(
  carrier: TcpCarrier,
  info: PeerInfo,
  secureContext: tls.SecureContext,
  options: ListenOptions,
): void {
  const socket = new tls.TLSSocket(carrier.stream, {
    isServer: true,
    secureContext,
  });
  const timer = setTimeout(() => {
    options.onHandshakeFailure?.(info.peer, "TLS handshake timeout");
    carrier.destroy();
  }, options.handshakeTimeoutMs);
  carrier.closed.then(() => clearTimeout(timer));
  let secured = false;
  socket.on("error", (error: Error) => {
    if (secured) {
      carrier.destroy();
      return;
    }
    clearTimeout(timer);
    options.onHandshakeFailure?.(info.peer, error.message);
    carrier.stream.end();
    const grace = setTimeout(carrier.destroy, CLOSE_GRACE_MS);
    carrier.closed.then(() => clearTimeout(grace));
  });
  socket.once("secure", () => {
    secured = true;
    carrier.secured();
    clearTimeout(timer);
    options.onConnection(nodeConnection(socket, carrier, info));
  });
}

function listenDenoTls(options: ListenOptions): Promise<TlsListener> {
  const listener = Deno.listenTls({
    hostname: options.hostname,
    port: options.port,
    cert: options.cert,
    key: options.key,
  });
  return Promise.resolve(
    acceptLoop(
      listener,
      options,
      (conn, info, close) => startDenoTls(conn, info, options, close),
    ),
  );
}

/**
 * The one accept loop of both engines: asks `onAccept` about each
 * connection, hands the kept ones to `start` with a close that reports
 * `onClose` once, and keeps accepting whatever error one accept ends with
 * (out of descriptors, a connection reset before it was taken), after
 * {@linkcode ACCEPT_RETRY_MS}.
 */
function acceptLoop<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  options: ListenOptions,
  start: (conn: C, info: PeerInfo, close: () => void) => void,
): TlsListener {
  const open = new Map<C, () => void>();
  let stopped = false;
  const accepting = (async () => {
    while (!stopped) {
      let conn: C;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopped || error instanceof Deno.errors.BadResource) return;
        options.onAcceptError?.(error as Error);
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      const remote = conn.remoteAddr as Deno.NetAddr;
      const info = {
        peer: formatPeer(remote.hostname, remote.port),
        address: remote.hostname,
        openedAt: Date.now(),
      };
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        closeQuietly(conn);
        if (open.delete(conn)) options.onClose(info.peer);
      };
      if (!options.onAccept({ ...info, drop: close })) {
        closeQuietly(conn);
        continue;
      }
      open.set(conn, close);
      start(conn, info, close);
    }
  })();
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      stopped = true;
      closeQuietly(listener);
      for (const closeOne of [...open.values()]) closeOne();
      await accepting;
    })();
    return closing;
  };
  const address = listener.addr as Deno.NetAddr;
  return {
    hostname: options.hostname,
    port: address.port,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function startDenoTls(
  conn: Deno.TlsConn,
  info: PeerInfo,
  options: ListenOptions,
  onClose: () => void,
): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("TLS handshake timeout")),
      options.handshakeTimeoutMs,
    );
  });
  Promise.race([conn.handshake(), timeout]).then(
    () => options.onConnection(denoConnection(conn, info, onClose)),
    (error: Error) => {
      options.onHandshakeFailure?.(info.peer, error.message);
      closeQuietly(conn);
      onClose();
    },
  ).finally(() => clearTimeout(timer));
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed by the peer or by the runtime.
  }
}
