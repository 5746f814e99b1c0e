/**
 * The connection both sides of the booth run on: a byte stream to one peer,
 * read through one reader and written through one bounded queue. The
 * server's TLS engines, the client and the tests' in-memory pipe all make
 * their connections here, from a {@linkcode ByteSource} and a
 * {@linkcode ByteSink}.
 *
 * @module
 */

/**
 * Bytes of replies a connection may hold unsent. A peer that stops reading
 * makes the writer wait once this much is queued, so its session stops
 * reading requests too: its bytes wait in its own TCP window, not in our
 * memory.
 */
export const MAX_UNSENT_BYTES = 64 * 1024;

/** Milliseconds a closing connection has to send what it holds. */
export const CLOSE_GRACE_MS = 2000;

/** A byte stream to one peer: what sessions and framing run on. */
export interface Connection {
  /** The peer's address, `host:port`. */
  readonly peer: string;
  /** The peer's host alone, without the port. */
  readonly address: string;
  /** When the TCP connection was accepted (ms since the epoch). */
  readonly openedAt: number;
  /** Bytes written and not yet taken by the peer's transport. */
  readonly unsentBytes: number;
  /** Settles once the transport is closed, whoever closed it. */
  readonly closed: Promise<void>;
  /**
   * The next chunk of bytes.
   *
   * @returns The chunk, or null once the peer has finished or the
   * connection is closed.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Queues `bytes` for the peer, waiting first while the queue would pass
   * {@linkcode MAX_UNSENT_BYTES}.
   *
   * @param bytes What to send.
   * @throws {ConnectionClosedError} When the connection is closed or lost.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Sends what is queued (for at most {@linkcode CLOSE_GRACE_MS}), then
   * closes. Idempotent; pending reads end with null.
   */
  close(): void;
  /**
   * Closes at once, dropping what is unsent: for a peer that does not
   * read. Idempotent; pending reads and writes end.
   */
  abort(): void;
}

/** Thrown by {@linkcode Connection.write} once the connection is gone. */
export class ConnectionClosedError extends Error {
  /** Recognise the error by this code. */
  readonly code = "ECONNCLOSED";

  /**
   * Creates the error.
   *
   * @param cause Why the connection ended, when the transport said.
   */
  constructor(cause?: unknown) {
    super("Connection closed", { cause });
    this.name = "ConnectionClosedError";
  }
}

/** Where a connection's bytes come from: a stream that ends with the peer. */
export type ByteSource = ReadableStream<Uint8Array>;

/** Where a connection's bytes go. */
export interface ByteSink {
  /**
   * Sends one chunk.
   *
   * @param bytes The chunk.
   * @returns When the transport has taken all of it.
   * @throws When the transport fails or is destroyed first (it must settle
   * then, never hang).
   */
  write(bytes: Uint8Array): Promise<void>;
  /** Ends the stream after what has been written. */
  end(): void;
  /** Tears the transport down at once. */
  destroy(): void;
  /** Settles once the transport is closed, whoever closed it. */
  readonly closed: Promise<void>;
}

/** Who the peer is, for {@linkcode streamConnection}. */
export interface PeerInfo {
  /** `host:port`. */
  peer: string;
  /** The host alone. */
  address: string;
  /** When the TCP connection was accepted (ms since the epoch). */
  openedAt: number;
}

/**
 * A {@linkcode Connection} over a byte source and sink.
 *
 * @example
 * ```ts
 * const pipe = new TransformStream<Uint8Array, Uint8Array>();
 * const writer = pipe.writable.getWriter();
 * const connection = streamConnection(pipe.readable, {
 *   write: (bytes) => writer.write(bytes),
 *   end: () => writer.close().catch(() => {}),
 *   destroy: () => writer.abort().catch(() => {}),
 *   closed: writer.closed.catch(() => {}),
 * }, { peer: "memory:1", address: "memory", openedAt: Date.now() });
 * await connection.write(new Uint8Array([1, 2, 3]));
 * ```
 *
 * @param source The peer's bytes.
 * @param sink Where writes go.
 * @param info The peer's address and the time it connected.
 * @returns The connection.
 */
export function streamConnection(
  source: ByteSource,
  sink: ByteSink,
  info: PeerInfo,
): Connection {
  return new StreamConnection(source, sink, info);
}

/** Formats a host and port as `host:port`, IPv6 hosts in brackets. */
export function formatPeer(
  host: string | undefined,
  port: number | undefined,
): string {
  if (host === undefined) return "unknown";
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

class StreamConnection implements Connection {
  readonly peer: string;
  readonly address: string;
  readonly openedAt: number;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #sink: ByteSink;
  #unsent = 0;
  /** Settles when everything written so far has been taken by the sink. */
  #flushed: Promise<void> = Promise.resolve();
  /**
   * Set once the transport is gone, with what it failed with (if anything)
   * in `#failure`. The error a write throws is built only when one is
   * thrown: building one with its stack trace at every close took 2% of the
   * server's JavaScript time under load (profiled).
   */
  #failed = false;
  #failure: unknown;
  #closed = false;

  constructor(source: ByteSource, sink: ByteSink, info: PeerInfo) {
    this.peer = info.peer;
    this.address = info.address;
    this.openedAt = info.openedAt;
    this.#reader = source.getReader();
    this.#sink = sink;
    sink.closed.then(() => this.#fail());
  }

  get unsentBytes(): number {
    return this.#unsent;
  }

  get closed(): Promise<void> {
    return this.#sink.closed;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    try {
      const { value, done } = await this.#reader.read();
      return done ? null : value;
    } catch {
      return null;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    // Wait for the queue to empty rather than pass the bound; one reply
    // larger than the bound is still sent, alone.
    while (
      this.#unsent > 0 && this.#unsent + bytes.length > MAX_UNSENT_BYTES &&
      !this.#failed
    ) {
      await this.#flushed;
    }
    if (this.#failed || this.#closed) {
      throw new ConnectionClosedError(this.#failure);
    }
    this.#unsent += bytes.length;
    this.#flushed = this.#flushed.then(async () => {
      if (this.#failed) return;
      try {
        await this.#sink.write(bytes);
      } catch (error) {
        this.#fail(error);
        this.#sink.destroy();
      } finally {
        this.#unsent -= bytes.length;
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader.cancel().catch(() => {});
    // A peer that never reads must not hold the socket open: what it has
    // not taken within the grace is dropped with the socket.
    const timer = setTimeout(() => this.#sink.destroy(), CLOSE_GRACE_MS);
    this.#sink.closed.finally(() => clearTimeout(timer));
    this.#flushed.then(() => this.#sink.end());
  }

  abort(): void {
    this.#closed = true;
    this.#reader.cancel().catch(() => {});
    this.#fail();
    this.#sink.destroy();
  }

  #fail(cause?: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#failure = cause;
  }
}
