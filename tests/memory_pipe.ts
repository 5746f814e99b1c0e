/**
 * Two connected in-memory connections: what one writes, the other reads.
 * For tests of framing and sessions without sockets; the same connection
 * code as the real transports, over streams.
 *
 * @module
 */

import { streamConnection } from "../lib/wire/connection.ts";
import type { ByteSink, Connection } from "../lib/wire/connection.ts";

/** Options of {@linkcode memoryPipe}. */
export interface MemoryPipeOptions {
  /**
   * Bytes each direction holds unread before a writer waits, like a TCP
   * window (default: unbounded).
   */
  capacity?: number;
  /** When the connections count as opened (ms; default `Date.now()`). */
  openedAt?: number;
  /** The server side's peer host (default `memory`). */
  address?: string;
}

/**
 * Two connected in-memory {@linkcode Connection}s.
 *
 * @param options Capacity, open time and address.
 * @returns The two ends, `[client, server]`, and a function that ends the
 * client's input to the server while the client still reads (a TCP
 * half-close).
 */
export function memoryPipe(
  options: MemoryPipeOptions = {},
): [Connection, Connection, () => void] {
  const capacity = options.capacity ?? Infinity;
  const openedAt = options.openedAt ?? Date.now();
  const toServer = direction(capacity);
  const toClient = direction(capacity);
  const both = Promise.withResolvers<void>();
  let closed = false;
  const shut = (how: "end" | "abort") => {
    if (closed) return;
    closed = true;
    toServer[how]();
    toClient[how]();
    both.resolve();
  };
  const sink = (to: ReturnType<typeof direction>): ByteSink => ({
    write: (bytes) => to.write(bytes.slice()),
    end: () => shut("end"),
    destroy: () => shut("abort"),
    closed: both.promise,
  });
  const address = options.address ?? "memory";
  return [
    streamConnection(toClient.readable, sink(toServer), {
      peer: "memory:server",
      address: "memory",
      openedAt,
    }),
    streamConnection(toServer.readable, sink(toClient), {
      peer: `${address}:1`,
      address,
      openedAt,
    }),
    () => toServer.end(),
  ];
}

function direction(capacity: number) {
  const pipe = new TransformStream<Uint8Array, Uint8Array>(
    {},
    undefined,
    new ByteLengthQueuingStrategy({ highWaterMark: capacity }),
  );
  const writer = pipe.writable.getWriter();
  return {
    readable: pipe.readable,
    async write(bytes: Uint8Array) {
      // Resolves once the bytes fit in the window, like a TCP write.
      await writer.ready;
      writer.write(bytes).catch(() => {});
    },
    end() {
      writer.close().catch(() => {});
    },
    abort() {
      writer.abort().catch(() => {});
    },
  };
}
