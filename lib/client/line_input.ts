/**
 * The voter's keyboard: reads answers one line at a time. On a terminal the
 * password is masked (`*` per character, Backspace works) in raw mode, which
 * is always restored; when stdin is a pipe every answer is simply the next
 * line, so whole sessions can be scripted like `sftp -b`. Deno's `prompt()`
 * returns null without a terminal, hence this reader.
 *
 * @module
 */

/** Thrown when the voter presses Ctrl-C at a masked prompt. */
export class InterruptedError extends Error {
  constructor() {
    super("Interrupted");
    this.name = "InterruptedError";
  }
}

/** Where answers come from. */
export interface LineInput {
  /**
   * Shows `prompt` (when not empty) and reads one answer.
   *
   * @param prompt The question, e.g. `Name:`; empty for none.
   * @param options `secret` masks what is typed on a terminal.
   * @returns The line without its newline, or null at end of input (Ctrl-D).
   * @throws {InterruptedError} On Ctrl-C at a masked prompt.
   */
  readLine(
    prompt: string,
    options?: { secret?: boolean },
  ): Promise<string | null>;
}

/** The stdin and stdout a {@linkcode LineInput} works on (Deno's or a test's). */
export interface InputStreams {
  /** Where keystrokes come from. */
  stdin: {
    read(buffer: Uint8Array): Promise<number | null>;
    isTerminal(): boolean;
    setRaw(raw: boolean): void;
  };
  /** Where prompts and masks are written. */
  stdout: { writeSync(bytes: Uint8Array): number };
}

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x7f;
const CTRL_H = 0x08;

/**
 * A line reader on the given streams (the process's own by default).
 *
 * @example
 * ```ts
 * const input = lineInput();
 * const name = await input.readLine("Name:");
 * const password = await input.readLine("Password:", { secret: true });
 * ```
 *
 * @param streams stdin and stdout.
 * @returns The reader.
 */
export function lineInput(
  streams: InputStreams = { stdin: Deno.stdin, stdout: Deno.stdout },
): LineInput {
  const { stdin, stdout } = streams;
  const encoder = new TextEncoder();
  const terminal = stdin.isTerminal();
  const write = (text: string) => stdout.writeSync(encoder.encode(text));
  let pending = new Uint8Array(0);
  let ended = false;

  async function nextByte(): Promise<number | null> {
    if (pending.length === 0) {
      if (ended) return null;
      const buffer = new Uint8Array(4096);
      const n = await stdin.read(buffer);
      if (n === null || n === 0) {
        ended = true;
        return null;
      }
      pending = buffer.subarray(0, n);
    }
    const byte = pending[0];
    pending = pending.subarray(1);
    return byte;
  }

  async function readPlainLine(): Promise<string | null> {
    const bytes: number[] = [];
    while (true) {
      const byte = await nextByte();
      if (byte === null) {
        return bytes.length === 0 ? null : decodeLine(bytes);
      }
      if (byte === 0x0a) return decodeLine(bytes);
      bytes.push(byte);
    }
  }

  /** The prompt is written once the terminal stops echoing, not before. */
  async function readMasked(prompt: string): Promise<string | null> {
    const chars: string[] = [];
    const decoder = new TextDecoder();
    stdin.setRaw(true);
    try {
      if (prompt !== "") write(`${prompt} `);
      while (true) {
        const byte = await nextByte();
        if (byte === null) return chars.length === 0 ? null : chars.join("");
        if (byte === CTRL_C) throw new InterruptedError();
        if (byte === CTRL_D && chars.length === 0) return null;
        if (byte === 0x0d || byte === 0x0a) return chars.join("");
        if (byte === BACKSPACE || byte === CTRL_H) {
          if (chars.pop() !== undefined) write("\b \b");
          continue;
        }
        if (byte < 0x20) continue;
        const text = decoder.decode(new Uint8Array([byte]), { stream: true });
        for (const char of text) {
          chars.push(char);
          write("*");
        }
      }
    } finally {
      stdin.setRaw(false);
      write("\n");
    }
  }

  return {
    async readLine(prompt, options = {}) {
      if (terminal && options.secret) return await readMasked(prompt);
      if (prompt !== "") write(terminal ? `${prompt} ` : `${prompt}\n`);
      return await readPlainLine();
    },
  };
}

function decodeLine(bytes: number[]): string {
  return new TextDecoder().decode(new Uint8Array(bytes)).replace(/\r$/, "");
}
