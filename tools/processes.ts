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

/** A finished process's output. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** A program started by {@linkcode spawnProgram}, its stdin held open. */
export interface RunningProgram {
  /** Writes to the program's stdin. */
  write(text: string): Promise<void>;
  /** Ends stdin and waits for the program to exit. */
  finish(): Promise<Output>;
}

/**
 * Starts `server.ts` or `client.ts` with its stdin held open, so a caller
 * can write to it over time.
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
  return {
    async write(text) {
      // The program may have exited already; its output says why.
      await writer.write(encoder.encode(text)).catch(() => {});
    },
    async finish() {
      await writer.close().catch(() => {});
      const { code, stdout, stderr } = await child.output();
      const decoder = new TextDecoder();
      return {
        code,
        stdout: decoder.decode(stdout),
        stderr: decoder.decode(stderr),
      };
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
   * A command that runs the program, e.g. `["prlimit", "--nofile=256"]`
   * (it must exec it, so the pid stays the program's).
   */
  runUnder?: string[];
}

/** A server process started by {@linkcode startServerProcess}. */
export interface ServerProcess {
  port: number;
  /** The process, for signals and its pid. */
  child: Deno.ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Everything written to stdout so far. */
  stdout(): string;
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
 * than keeping it (long benchmark runs); `runUnder` a command to run it
 * under.
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
 *
 * @param denoArgs Arguments for `Deno.execPath()`.
 * @param options `discardLog` sends stderr to /dev/null; `runUnder` a
 * command to run it under.
 * @returns The running process and its port.
 */
export async function startListeningProcess(
  denoArgs: string[],
  options: ListeningOptions = {},
): Promise<ServerProcess> {
  const [command, ...prefix] = [...options.runUnder ?? [], Deno.execPath()];
  const child = new Deno.Command(command, {
    args: [...prefix, ...denoArgs],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: options.discardLog ? "null" : "piped",
  }).spawn();
  let out = "";
  let err = "";
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    append: (text: string) => void,
  ) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) append(decoder.decode(chunk));
  };
  const stdoutDone = pump(child.stdout, (t) => out += t);
  const stderrDone = options.discardLog
    ? Promise.resolve()
    : pump(child.stderr, (t) => err += t);
  const listening = /listening on .*:(\d+)\n/;
  const deadline = Date.now() + 20_000;
  while (!listening.test(out)) {
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 20)),
    ]);
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await child.status;
      await Promise.all([stdoutDone, stderrDone]);
      throw new Error(`server did not start:\n${out}\n${err}`);
    }
  }
  const port = Number(out.match(listening)![1]);
  const wait = async () => {
    const status = await child.status;
    await Promise.all([stdoutDone, stderrDone]);
    return status;
  };
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch {
      // Already exited.
    }
  };
  return {
    port,
    child,
    stderr: () => err,
    stdout: () => out,
    async stop() {
      signal("SIGTERM");
      return (await wait()).code;
    },
    async kill() {
      signal("SIGKILL");
      await wait();
    },
  };
}
