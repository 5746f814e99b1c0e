/**
 * Runs the booth's real entry points as their tasks do — `deno run` with the
 * permission flags of deno.json's `server` and `client` tasks, the flags
 * `make build` compiles in — for the tests, `make demo` and the benchmark.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * The runtime flags a task runs its program with, from deno.json: the
 * permissions, and for the server `--v8-flags=--optimize-for-size` (measured:
 * RSS after 60,000 votes 141 MB instead of 459 MB, at the same throughput).
 *
 * @param task `server` or `client`.
 * @returns The flags, e.g. `["--allow-net", "--allow-read"]`.
 */
export function taskFlags(task: "server" | "client"): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  return runtimeFlags(config.tasks[task]);
}

/**
 * The flags in a `deno run` task command: the words starting with `--`.
 *
 * @param command The task, e.g. `deno run --allow-net client.ts`.
 * @returns The flags in order.
 */
export function runtimeFlags(command: string): string[] {
  return command.split(/\s+/).filter((word) => word.startsWith("--"));
}

/**
 * The command line that runs a program as its task does.
 *
 * @param program `server` or `client`.
 * @param args Arguments after the program.
 * @returns Arguments for `Deno.execPath()`.
 */
export function programArgs(
  program: "server" | "client",
  args: string[],
): string[] {
  return ["run", ...taskFlags(program), join(ROOT, `${program}.ts`), ...args];
}

/**
 * Makes a CA and server certificate with `tools/make_certs.sh`, the script
 * behind `make certs`.
 *
 * @param dir Where to write them.
 * @param env Extra environment (e.g. `DAYS`).
 * @returns `dir`.
 * @throws {Error} With the script's stderr when it fails.
 */
export async function makeCerts(
  dir: string,
  env: Record<string, string> = {},
): Promise<string> {
  const { code, stderr } = await new Deno.Command("bash", {
    args: [join(ROOT, "tools/make_certs.sh"), dir],
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `make_certs.sh failed: ${new TextDecoder().decode(stderr)}`,
    );
  }
  return dir;
}

/** A finished process's output. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A finished `Deno.Command`'s output, its streams decoded as UTF-8.
 *
 * @param output What `Deno.Command.output()` returned.
 * @returns Exit code and text.
 */
export function decodedOutput(output: Deno.CommandOutput): Output {
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Which of a process's output streams to watch. */
export type OutputStream = "stdout" | "stderr";

/**
 * The text a process writes to one stream, kept as it arrives, so a caller
 * can wait for what the process is about to print instead of sleeping.
 */
export class StreamedText {
  #text = "";
  #ended = false;
  readonly #waiters = new Set<() => void>();
  /** Settles once the stream has ended and all its text is kept. */
  readonly done: Promise<void>;

  /**
   * Starts reading a stream to its end.
   *
   * @param stream The process's stdout or stderr.
   */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  /** Everything written so far. */
  get text(): string {
    return this.#text;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        this.#text += decoder.decode(chunk, { stream: true });
        this.#notify();
      }
    } finally {
      this.#text += decoder.decode();
      this.#ended = true;
      this.#notify();
    }
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /**
   * Waits until the text written so far satisfies `condition`: an event,
   * checked each time the process writes.
   *
   * @param condition A test over everything written so far.
   * @param what Names the awaited output in the error.
   * @param timeoutMs A safety bound against a hung process, not a
   * synchronisation: generous by default.
   * @throws {Error} With the text so far when the stream ends or the time
   * runs out first.
   */
  until(
    condition: (text: string) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (condition(this.#text)) finish();
        else if (this.#ended) {
          finish(new Error(`ended before ${what}:\n${this.#text}`));
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            new Error(`no ${what} within ${timeoutMs} ms:\n${this.#text}`),
          ),
        timeoutMs,
      );
      this.#waiters.add(check);
      check();
    });
  }
}

/**
 * The condition "the text holds `pattern` at least `count` times", for
 * {@linkcode StreamedText.until}.
 *
 * @param pattern A substring or a regular expression (its flags are kept;
 * matching is global).
 * @param count How many occurrences to wait for.
 * @returns The condition.
 */
export function occurs(
  pattern: string | RegExp,
  count = 1,
): (text: string) => boolean {
  const regex = typeof pattern === "string"
    ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "g")
    : new RegExp(pattern.source, pattern.flags.replace("g", "") + "g");
  return (text) => (text.match(regex)?.length ?? 0) >= count;
}

/** A program started by {@linkcode spawnProgram}, its stdin held open. */
export interface RunningProgram {
  /** Writes to the program's stdin. */
  write(text: string): Promise<void>;
  /** Its stdout and stderr, as they stream. */
  readonly output: Record<OutputStream, StreamedText>;
  /** Ends stdin and waits for the program to exit. */
  finish(): Promise<Output>;
}

/**
 * Starts `server.ts` or `client.ts` with its stdin held open, so a caller
 * can write to it over time and watch its output as it streams.
 *
 * @param program `server` or `client`.
 * @param args Arguments after the program.
 * @param options Working directory and environment.
 * @returns The running program.
 */
export function spawnProgram(
  program: "server" | "client",
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): RunningProgram {
  const child = new Deno.Command(Deno.execPath(), {
    args: programArgs(program, args),
    cwd: options.cwd ?? ROOT,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  const output = {
    stdout: new StreamedText(child.stdout),
    stderr: new StreamedText(child.stderr),
  };
  return {
    output,
    async write(text) {
      // The program may have exited already; its output says why.
      await writer.write(encoder.encode(text)).catch(() => {});
    },
    async finish() {
      await writer.close().catch(() => {});
      const { code } = await child.status;
      await Promise.all([output.stdout.done, output.stderr.done]);
      return { code, stdout: output.stdout.text, stderr: output.stderr.text };
    },
  };
}

/**
 * Runs `server.ts` or `client.ts` to completion.
 *
 * @param program `server` or `client`.
 * @param args Arguments after the program.
 * @param options Standard input text, working directory, environment.
 * @returns Exit code and output.
 */
export async function runProgram(
  program: "server" | "client",
  args: string[],
  options: { stdin?: string; cwd?: string; env?: Record<string, string> } = {},
): Promise<Output> {
  const running = spawnProgram(program, args, options);
  await running.write(options.stdin ?? "");
  return await running.finish();
}

/** Options of {@linkcode startListeningProcess}. */
export interface ListeningOptions {
  /** Send stderr to /dev/null rather than keep it. */
  discardLog?: boolean;
  /**
   * Leave stderr unread in its pipe, as a stalled log reader does, until the
   * first call of `stderr()` or `until("stderr", ...)`.
   */
  unreadLog?: boolean;
  /**
   * A command that runs the program, e.g. `["prlimit", "--nofile=256"]`
   * (it must exec it, so the pid stays the program's).
   */
  runUnder?: string[];
  /**
   * Variables added to the program's environment (e.g. `PGPASSWORD`, kept
   * off its command line, which `ps` shows to every user).
   */
  env?: Record<string, string>;
}

/** A server process started by {@linkcode startServerProcess}. */
export interface ServerProcess extends AsyncDisposable {
  port: number;
  /** The process, for signals and its pid. */
  child: Deno.ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Everything written to stdout so far. */
  stdout(): string;
  /**
   * Waits until the server's stdout or stderr (its security log) satisfies
   * `condition`, e.g. {@linkcode occurs}`("connection opened", 5)`.
   */
  until(
    stream: OutputStream,
    condition: (text: string) => boolean,
    what: string,
  ): Promise<void>;
  /** SIGTERM, then waits; returns the exit code. */
  stop(): Promise<number>;
  /** SIGKILL, then waits. */
  kill(): Promise<void>;
}

/**
 * Starts `server.ts` and waits for its `listening on` line.
 *
 * @param args Serve options (add `--port 0` for a free port).
 * @param options `discardLog` sends the security log to /dev/null rather
 * than keeping it (long benchmark runs), `unreadLog` leaves it unread until
 * asked for (a stalled log reader); `runUnder` a command to run it under.
 * @returns The running server.
 * @throws {Error} With the server's output when it exits or does not
 * listen within 20 s.
 */
export function startServerProcess(
  args: string[],
  options: ListeningOptions = {},
): Promise<ServerProcess> {
  return startListeningProcess(programArgs("server", args), options);
}

/**
 * Starts any Deno program that prints `listening on <host>:<port>` once it
 * accepts connections (the booth's server, the benchmark's echo server).
 * Disposing of it stops it (SIGTERM) if it still runs.
 *
 * @param denoArgs Arguments for `Deno.execPath()`.
 * @param options `discardLog` sends stderr to /dev/null, `unreadLog`
 * leaves it unread until asked for; `runUnder` a command to run it under.
 * @returns The running process and its port.
 * @throws {Error} With the process's output when it exits or does not
 * listen within 20 s.
 */
export async function startListeningProcess(
  denoArgs: string[],
  options: ListeningOptions = {},
): Promise<ServerProcess> {
  const [command, ...prefix] = [...options.runUnder ?? [], Deno.execPath()];
  const child = new Deno.Command(command, {
    args: [...prefix, ...denoArgs],
    cwd: ROOT,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: options.discardLog ? "null" : "piped",
  }).spawn();
  let log: StreamedText | undefined = options.unreadLog
    ? undefined
    : new StreamedText(
      options.discardLog
        ? new ReadableStream({ start: (c) => c.close() })
        : child.stderr,
    );
  const output: Record<OutputStream, StreamedText> = {
    stdout: new StreamedText(child.stdout),
    get stderr() {
      return log ??= new StreamedText(child.stderr);
    },
  };
  const wait = async () => {
    const status = await child.status;
    await Promise.all([output.stdout.done, output.stderr.done]);
    return status;
  };
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch {
      // Already exited.
    }
  };
  const listening = /listening on .*:(\d+)\n/;
  try {
    await output.stdout.until(
      (text) => listening.test(text),
      "listening on",
      20_000,
    );
  } catch {
    signal("SIGKILL");
    await wait();
    throw new Error(
      `server did not start:\n${output.stdout.text}\n${output.stderr.text}`,
    );
  }
  const port = Number(output.stdout.text.match(listening)![1]);
  let exitCode: number | undefined;
  const stop = async () => {
    signal("SIGTERM");
    return exitCode = (await wait()).code;
  };
  return {
    port,
    child,
    stderr: () => output.stderr.text,
    stdout: () => output.stdout.text,
    until: (stream, condition, what) => output[stream].until(condition, what),
    stop,
    async kill() {
      signal("SIGKILL");
      await wait();
    },
    async [Symbol.asyncDispose]() {
      if (exitCode === undefined) await stop();
    },
  };
}
