/**
 * A line log that never blocks its writer: the server's security log goes to
 * stderr, and a pipe nobody drains (a stalled SSH session, Ctrl-S on a
 * terminal, a log collector that hangs) must not freeze the event loop that
 * serves voters. Lines wait in a bounded buffer while one asynchronous write
 * is in flight; when the buffer is full, lines are dropped and counted, and
 * the count is logged once the reader catches up.
 *
 * @module
 */

/** Where a {@linkcode LogWriter} writes: `Deno.stderr` or a test's stream. */
export interface LogStream {
  /**
   * Writes some of `bytes` without blocking the caller.
   *
   * @param bytes What to write.
   * @returns How many bytes were written (maybe fewer than given).
   */
  write(bytes: Uint8Array): Promise<number>;
}

/** Options of {@linkcode LogWriter}. */
export interface LogWriterOptions {
  /**
   * The most bytes held waiting for the stream, in flight included; a line
   * that does not fit is dropped. Default {@linkcode LOG_BUFFER_BYTES}.
   */
  capacityBytes?: number;
  /**
   * How long a line may wait so that lines written together go out in one
   * write. Default 10 ms.
   */
  batchMs?: number;
  /**
   * How long to wait before writing again when the stream would block (a
   * non-blocking pipe or terminal that is full). Default 50 ms.
   */
  retryMs?: number;
  /**
   * The line that reports dropped lines, written (beyond the capacity) before
   * the next line kept or once the buffer has drained.
   */
  droppedLine?: (dropped: number) => string;
}

/**
 * 256 KiB: with a pipe's own 64 KiB, about 3,000 log lines of backlog (a
 * line is about 100 bytes) before any is dropped, for a few kilobytes of
 * memory in normal running.
 */
export const LOG_BUFFER_BYTES = 256 * 1024;

/**
 * The default report of dropped lines.
 *
 * @param dropped How many lines were dropped.
 * @returns E.g. `12 log lines dropped (the log was not being read)`.
 */
export function describeDropped(dropped: number): string {
  return `${dropped} log line${
    dropped === 1 ? "" : "s"
  } dropped (the log was not being read)`;
}

/**
 * Writes lines to a stream in the background, in order, at most
 * `capacityBytes` waiting; never blocks and never throws at its caller.
 *
 * @example
 * ```ts
 * import { LogWriter } from "./log_writer.ts";
 * await using log = new LogWriter(Deno.stderr);
 * log.write("server started");
 * ```
 */
export class LogWriter implements AsyncDisposable {
  readonly #stream: LogStream;
  readonly #capacity: number;
  readonly #batchMs: number;
  readonly #retryMs: number;
  readonly #droppedLine: (dropped: number) => string;
  readonly #encoder = new TextEncoder();
  #queued: Uint8Array[] = [];
  /** Bytes queued or in flight. */
  #pending = 0;
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing = false;
  /** Set once the stream failed (e.g. a closed pipe): nothing more is written. */
  #broken = false;
  #drained = Promise.withResolvers<void>();

  /**
   * @param stream Where the lines go.
   * @param options Capacity, batching delay and the dropped-lines line.
   */
  constructor(stream: LogStream, options: LogWriterOptions = {}) {
    this.#stream = stream;
    this.#capacity = options.capacityBytes ?? LOG_BUFFER_BYTES;
    this.#batchMs = options.batchMs ?? 10;
    this.#retryMs = options.retryMs ?? 50;
    this.#droppedLine = options.droppedLine ?? describeDropped;
    this.#drained.resolve();
  }

  /** Lines dropped since the last report of dropped lines. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Queues one line (a newline is added), or drops and counts it when the
   * buffer is full.
   *
   * @param line The line, without its newline.
   */
  write(line: string): void {
    const bytes = this.#encoder.encode(`${line}\n`);
    if (this.#broken || this.#pending + bytes.length > this.#capacity) {
      this.#dropped++;
      return;
    }
    this.#reportDropped();
    this.#enqueue(bytes);
  }

  /**
   * Waits until every line kept so far is written, or the stream failed.
   *
   * @param timeoutMs Gives up waiting after this long (a reader that never
   * comes back must not hold a stopping server forever).
   * @returns Whether everything was written.
   */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    this.#startWriting();
    if (this.#pending === 0) return !this.#broken;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = await Promise.race([
      this.#drained.promise.then(() => true),
      ...(Number.isFinite(timeoutMs)
        ? [
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), timeoutMs);
          }),
        ]
        : []),
    ]);
    clearTimeout(timer);
    return drained && !this.#broken;
  }

  /** Writes what is queued now, waiting as long as it takes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.drain();
  }

  #reportDropped(): void {
    if (this.#dropped === 0 || this.#broken) return;
    const report = this.#encoder.encode(
      `${this.#droppedLine(this.#dropped)}\n`,
    );
    this.#dropped = 0;
    this.#enqueue(report);
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#pending === 0 && !this.#writing) {
      this.#drained = Promise.withResolvers<void>();
    }
    this.#queued.push(bytes);
    this.#pending += bytes.length;
    if (!this.#writing) {
      this.#timer ??= setTimeout(() => this.#startWriting(), this.#batchMs);
    }
  }

  #startWriting(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing || this.#queued.length === 0) return;
    this.#writing = true;
    void this.#writeQueued();
  }

  async #writeQueued(): Promise<void> {
    while (this.#queued.length > 0) {
      const chunk = concat(this.#queued);
      this.#queued = [];
      try {
        for (let written = 0; written < chunk.length;) {
          const n = await this.#writeSome(chunk.subarray(written));
          written += n;
          this.#pending -= n;
        }
      } catch {
        // Nowhere left to say it: stderr itself failed (a closed pipe).
        this.#broken = true;
        this.#queued = [];
        this.#pending = 0;
      }
      if (this.#queued.length === 0) this.#reportDropped();
    }
    this.#writing = false;
    this.#drained.resolve();
  }

  /**
   * One write; a stream that would block (O_NONBLOCK set on the pipe or
   * terminal by whoever shares it, and full) is a stalled reader, not a
   * broken one: wait and write again, lines meanwhile queue up to the
   * capacity.
   */
  async #writeSome(bytes: Uint8Array): Promise<number> {
    for (;;) {
      try {
        return await this.#stream.write(bytes);
      } catch (error) {
        if (!(error instanceof Deno.errors.WouldBlock)) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.#retryMs));
      }
    }
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return joined;
}
