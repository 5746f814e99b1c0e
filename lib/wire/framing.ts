/**
 * Length-prefixed frames: the one wire format between voter's client and
 * voting server. A frame is a 4-byte big-endian length followed by that many
 * bytes of payload. PROTOCOL.md describes the same thing in words.
 *
 * @module
 */

/** Bytes in the length prefix of every frame. */
export const FRAME_HEADER_BYTES = 4;

/**
 * Largest payload a server accepts from a client. Every client message is a
 * small JSON object; a larger prefix can only be an attack or garbage, so it is
 * refused before any of its bytes are buffered.
 */
export const MAX_CLIENT_FRAME_BYTES = 4096;

/**
 * Largest payload a client accepts from the server (a result with many
 * candidates is the largest message).
 */
export const MAX_SERVER_FRAME_BYTES = 256 * 1024;

/** Thrown when bytes on the wire cannot be frames. */
export class FrameError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was wrong with the bytes.
   */
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/**
 * Encodes one frame: the length prefix and the payload in one buffer, so a
 * single write sends both.
 *
 * @example
 * ```ts
 * const bytes = encodeFrame(new TextEncoder().encode("hi"));
 * // bytes = [0, 0, 0, 2, 104, 105]
 * ```
 *
 * @param payload The frame's payload.
 * @param maxBytes The largest payload allowed.
 * @returns The encoded frame.
 * @throws {FrameError} When the payload is larger than `maxBytes`.
 */
export function encodeFrame(
  payload: Uint8Array,
  maxBytes: number = MAX_SERVER_FRAME_BYTES,
): Uint8Array {
  if (payload.length > maxBytes) {
    throw new FrameError(
      `Frame of ${payload.length} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Turns a stream of byte chunks into frames. Chunks may split a frame
 * anywhere or carry several frames; partial reads are the normal case.
 *
 * A length prefix over the limit ends the stream, but not before the frames
 * that came ahead of it: {@linkcode FrameDecoder.push} returns those, and
 * {@linkcode FrameDecoder.failure} says the stream is broken, so a server can
 * answer requests in order and then say why it closes.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder(1024);
 * const frames = decoder.push(new Uint8Array([0, 0, 0, 1, 65, 0, 0]));
 * // frames.length === 1; the two trailing bytes wait for the rest
 * ```
 */
export class FrameDecoder {
  #maxBytes: number;
  #buffer: Uint8Array = new Uint8Array(0);
  #failure: FrameError | undefined;

  /**
   * Creates a decoder with an empty buffer.
   *
   * @param maxBytes The largest payload accepted; a larger length prefix is
   * an error as soon as its four bytes are read.
   */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes received that do not yet make a whole frame. */
  get pendingBytes(): number {
    return this.#buffer.length;
  }

  /**
   * Why the stream is broken, once a length prefix over the limit was read;
   * nothing after that prefix is decoded.
   */
  get failure(): FrameError | undefined {
    return this.#failure;
  }

  /**
   * Adds received bytes and returns every frame they complete, up to the
   * first length prefix over the limit.
   *
   * @param chunk Bytes as read from the connection.
   * @returns The payloads of the completed frames, in order. When a bad
   * prefix follows them, {@linkcode FrameDecoder.failure} is set.
   * @throws {FrameError} When the stream is broken and no frame comes
   * before the bad prefix in this call (or it was broken earlier).
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failure) throw this.#failure;
    this.#buffer = this.#buffer.length === 0
      ? chunk
      : concat(this.#buffer, chunk);
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (this.#buffer.length - offset >= FRAME_HEADER_BYTES) {
      const view = new DataView(
        this.#buffer.buffer,
        this.#buffer.byteOffset + offset,
        FRAME_HEADER_BYTES,
      );
      const length = view.getUint32(0);
      if (length > this.#maxBytes) {
        this.#failure = new FrameError(
          `Frame of ${length} bytes exceeds the limit of ${this.#maxBytes}`,
        );
        this.#buffer = new Uint8Array(0);
        if (frames.length === 0) throw this.#failure;
        return frames;
      }
      const end = offset + FRAME_HEADER_BYTES + length;
      if (end > this.#buffer.length) break;
      frames.push(this.#buffer.slice(offset + FRAME_HEADER_BYTES, end));
      offset = end;
    }
    this.#buffer = this.#buffer.slice(offset);
    return frames;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
