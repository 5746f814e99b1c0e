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
  /**
   * Marks the TLS handshake done: from then on the peer's end of stream
   * waits for ours (close_notify) before the socket is released; before,
   * it releases the socket at once.
   */
  secured(): void;
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
  // Closed once both directions have ended: TLS's close_notify and our FIN
  // go out, and the peer's end is read, before the socket is released.
  let readEnded = false;
  let writeEnded = false;
  let bytesWritten = 0;
  let isSecured = false;
  const stream = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      bytesWritten += chunk.length;
      writeAll(conn, chunk).then(() => callback(), (error) => {
        destroy();
        callback(error);
      });
    },
    final(callback) {
      conn.closeWrite().catch(() => {}).finally(() => {
        writeEnded = true;
        if (readEnded) destroy();
        callback();
      });
    },
    destroy(error, callback) {
      // Torn down before it said a word: the handshake failed on the
      // peer's first flight. Deno's TLS layer sends no alert over a stream
      // of ours, so the plaintext fatal alert a TLS server sends is ours.
      if (bytesWritten === 0 && !isClosed) {
        bytesWritten = HANDSHAKE_FAILURE.length;
        writeAll(conn, HANDSHAKE_FAILURE).catch(() => {}).finally(destroy);
      } else {
        destroy();
      }
      callback(error);
    },
  });
  const buffer = new Uint8Array(READ_BYTES);
  const pump = async () => {
    reading = true;
    while (!paused && !isClosed) {
      const chunk = await readChunk(conn, buffer);
      if (chunk === null) {
        readEnded = true;
        stream.push(null);
        if (writeEnded || !isSecured) destroy();
        break;
      }
      stream.push(chunk);
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
    secured: () => isSecured = true,
  };
}

/**
 * A TLS alert record, in plaintext as before any handshake: fatal (2),
 * handshake_failure (40).
 */
const HANDSHAKE_FAILURE = new Uint8Array([0x15, 0x03, 0x01, 0x00, 0x02, 2, 40]);

/** Bytes asked for per read from a TCP connection. */
const READ_BYTES = 16 * 1024;

/**
 * One read from a connection into `buffer`, the connection's own: a copy
 * of the bytes read, or `null` at its end; a failed read (a reset) ends it
 * the same way. One buffer per connection, not one per read: allocating
 * and zeroing a fresh 16 KiB per read took 6% of the node engine's
 * JavaScript time under load (profiled), and fed the garbage collector.
 */
async function readChunk(
  conn: Deno.Conn,
  buffer: Uint8Array,
): Promise<Uint8Array | null> {
  let n: number | null;
  try {
    n = await conn.read(buffer);
  } catch {
    n = null;
  }
  return n === null ? null : buffer.slice(0, n);
}

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
  let cancelled = false;
  // A failed socket ends the connection like a closed one.
  socket.on("error", () => socket.destroy());
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      socket.on("data", (data: Uint8Array) => {
        if (cancelled) return;
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
    cancel() {
      // Closing: what the peer still sends is read and dropped, so that its
      // end (and so the socket's) is seen.
      cancelled = true;
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
  const buffer = new Uint8Array(READ_BYTES);
  const source = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await readChunk(conn, buffer);
      if (chunk === null) {
        controller.close();
        shut();
      } else {
        controller.enqueue(chunk);
      }
    },
  }, new CountQueuingStrategy({ highWaterMark: 0 }));
  const sink: ByteSink = {
    write: (bytes) => writeAll(conn, bytes),
    // close_notify and FIN first, then the socket.
    end: () => {
      conn.closeWrite().catch(() => {}).finally(shut);
    },
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
