/**
 * A finished TLS socket, either engine's, as a {@linkcode Connection}: what
 * the server's listener and the voter's client both wrap their sockets with.
 *
 * @module
 */

import type tls from "node:tls";
import { Duplex } from "node:stream";
import {
  formatPeer,
  MAX_UNSENT_BYTES,
  streamConnection,
} from "./connection.ts";
import type { ByteSink, Connection, PeerInfo } from "./connection.ts";

/**
 * Chunks read ahead of the session: enough to keep a fast honest peer
 * streaming, little enough that a peer the session has stopped reading
 * (its replies do not drain) waits in its own TCP window.
 */
const READ_AHEAD_CHUNKS = 4;

/**
 * The TCP connection under a server's `node:tls` socket, as the stream
 * TLS runs over (see {@linkcode tcpCarrier}).
 */
export interface TcpCarrier {
  /** The stream to hand `new tls.TLSSocket`; its backlog is encrypted replies. */
  readonly stream: Duplex;
  /** Stops reading from the peer: it then waits in its own TCP window. */
  pause(): void;
  /** Reads from the peer again. */
  resume(): void;
  /** Closes the TCP connection at once. */
  destroy(): void;
  /** Settles once the TCP connection is closed. */
  readonly closed: Promise<void>;
}

/**
 * A `Deno.TcpConn` as the stream `node:tls` runs over on the server. Deno
 * 2.9.6's TLS layer reads its stream regardless of back-pressure and writes
 * to it regardless of the return value, so the connection pauses this
 * carrier when the session stops reading, and waits for the stream's
 * backlog to drain before it counts a reply as taken.
 *
 * @param conn The accepted TCP connection.
 * @param close Closes it (and tells the listener); called once at most.
 * @returns The carrier.
 */
export function tcpCarrier(conn: Deno.TcpConn, close: () => void): TcpCarrier {
  const closed = Promise.withResolvers<void>();
  let isClosed = false;
  const destroy = () => {
    if (isClosed) return;
    isClosed = true;
    close();
    closed.resolve();
  };
  let paused = false;
  let reading = false;
  const stream = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(conn, chunk).then(() => callback(), (error) => {
        destroy();
        callback(error);
      });
    },
    final(callback) {
      destroy();
      callback();
    },
    destroy(error, callback) {
      destroy();
      callback(error);
    },
  });
  const pump = async () => {
    reading = true;
    while (!paused && !isClosed) {
      const buffer = new Uint8Array(READ_BYTES);
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) {
        stream.push(null);
        destroy();
        break;
      }
      stream.push(buffer.subarray(0, n));
    }
    reading = false;
  };
  pump();
  return {
    stream,
    pause: () => paused = true,
    resume: () => {
      paused = false;
      if (!reading) pump();
    },
    destroy,
    closed: closed.promise,
  };
}

/** Bytes asked for per read from a TCP connection. */
const READ_BYTES = 16 * 1024;

async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

/**
 * A `node:tls` socket as a {@linkcode Connection}.
 *
 * @param socket A socket whose TLS handshake is complete.
 * @param carrier On the server, the TCP socket and stream under it.
 * @param info The peer's address and when it connected.
 * @returns The connection.
 */
export function nodeConnection(
  socket: tls.TLSSocket,
  carrier: TcpCarrier | undefined,
  info: PeerInfo,
): Connection {
  const pausable = carrier ?? socket;
  let paused = false;
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      socket.on("data", (data: Uint8Array) => {
        controller.enqueue(data);
        if ((controller.desiredSize ?? 0) <= 0 && !paused) {
          paused = true;
          pausable.pause();
        }
      });
      const end = () => {
        try {
          controller.close();
        } catch {
          // Already closed.
        }
      };
      socket.on("end", end);
      socket.on("close", end);
    },
    pull() {
      if (!paused) return;
      paused = false;
      pausable.resume();
    },
  }, new CountQueuingStrategy({ highWaterMark: READ_AHEAD_CHUNKS }));
  const closed = new Promise<void>((resolve) => {
    if (socket.destroyed) resolve();
    socket.once("close", () => resolve());
    carrier?.closed.then(resolve);
  });
  const sink: ByteSink = {
    write: (bytes) =>
      new Promise((resolve, reject) => {
        if (socket.destroyed) {
          reject(new Error("Socket destroyed"));
          return;
        }
        // The callback fires once TLS has taken the bytes, and with an
        // error if the socket is destroyed first; then the carrier's backlog
        // of encrypted bytes must fall back under the bound too.
        socket.write(
          bytes,
          (error) =>
            error ? reject(error) : drained(carrier?.stream).then(resolve),
        );
      }),
    end: () => socket.end(),
    destroy: () => {
      socket.destroy();
      carrier?.destroy();
    },
    closed,
  };
  return streamConnection(source, sink, info);
}

/** Settles once `stream`'s write backlog is within the bound, or it closed. */
function drained(stream: Duplex | undefined): Promise<void> {
  if (!stream || stream.writableLength <= MAX_UNSENT_BYTES) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

/**
 * A connected `node:tls` socket, server or client side, as a
 * {@linkcode Connection}.
 *
 * @param socket A socket whose TLS handshake is complete.
 * @returns The connection.
 */
export function nodeTlsConnection(socket: tls.TLSSocket): Connection {
  return nodeConnection(socket, undefined, {
    peer: formatPeer(socket.remoteAddress, socket.remotePort),
    address: socket.remoteAddress ?? "unknown",
    openedAt: Date.now(),
  });
}

/**
 * A `Deno.TlsConn`, server or client side, whose handshake is complete, as
 * a {@linkcode Connection}.
 *
 * @param conn The TLS connection.
 * @param peer The peer's address, for messages.
 * @returns The connection.
 */
export function denoTlsConnection(
  conn: Deno.TlsConn,
  peer: string,
): Connection {
  return denoConnection(conn, {
    peer,
    address: conn.remoteAddr.hostname,
    openedAt: Date.now(),
  }, () => {});
}

/**
 * A `Deno.TlsConn` as a {@linkcode Connection}.
 *
 * @param conn The TLS connection, handshake complete.
 * @param info The peer's address and when it connected.
 * @param onClose Called once when the connection closes.
 * @returns The connection.
 */
export function denoConnection(
  conn: Deno.TlsConn,
  info: PeerInfo,
  onClose: () => void,
): Connection {
  const closed = Promise.withResolvers<void>();
  let isClosed = false;
  const shut = () => {
    if (isClosed) return;
    isClosed = true;
    closeQuietly(conn);
    onClose();
    closed.resolve();
  };
  // Pulled: a read is made only when the session asks for one, so a
  // session that stopped reading leaves the peer's bytes in the kernel.
  const source = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buffer = new Uint8Array(16 * 1024);
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) {
        controller.close();
        shut();
      } else {
        controller.enqueue(buffer.subarray(0, n));
      }
    },
  }, new CountQueuingStrategy({ highWaterMark: 0 }));
  const sink: ByteSink = {
    write: (bytes) => writeAll(conn, bytes),
    end: shut,
    destroy: shut,
    closed: closed.promise,
  };
  return streamConnection(source, sink, info);
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed by the peer or by the runtime.
  }
}
