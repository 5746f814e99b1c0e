/**
 * What the end-to-end tests share: the real entry points run under the
 * permission flags of `deno.json`'s tasks (the same flags `make build`
 * compiles in), certificates made by the script behind `make certs`, and a
 * server process on a free loopback port.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PROTOCOL_VERSION } from "../lib/protocol.ts";
import type { ServerMessage } from "../lib/protocol.ts";
import { connectTls } from "../lib/tls_client.ts";
import type { Connection } from "../lib/transport.ts";
import { ServerChannel } from "../lib/voter_client.ts";

/** The repository's root. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * The permission flags a task runs its program with, from `deno.json`.
 *
 * @param task `server` or `client`.
 * @returns The flags, e.g. `["--allow-net", "--allow-read"]`.
 */
export function taskFlags(task: "server" | "client"): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  const words = (config.tasks[task] as string).split(/\s+/);
  return words.filter((word) => word.startsWith("--allow-"));
}

/** A finished process's output. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `server.ts` or `client.ts` as its task does, to completion.
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
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...taskFlags(program), join(ROOT, `${program}.ts`), ...args],
    cwd: options.cwd ?? ROOT,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(options.stdin ?? "")).catch(
    () => {},
  );
  await writer.close().catch(() => {});
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

/**
 * Makes a CA and server certificate with `tools/make_certs.sh`, the script
 * behind `make certs`.
 *
 * @param dir Where to write them.
 * @param env Extra environment (e.g. `DAYS`).
 * @returns `dir`.
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

let sharedCerts: Promise<string> | undefined;

/** One set of certificates shared by every test in a process. */
export function testCerts(): Promise<string> {
  sharedCerts ??= makeCerts(Deno.makeTempDirSync({ prefix: "booth-certs-" }));
  return sharedCerts;
}

/**
 * Creates an election with the real `server init`.
 *
 * @param args Extra arguments (`--voters`, `--candidates`, ...).
 * @returns The new election's directory.
 */
export async function initElection(args: string[] = []): Promise<string> {
  const dir = join(Deno.makeTempDirSync({ prefix: "booth-data-" }), "data");
  const result = await runProgram("server", ["init", "--data", dir, ...args]);
  if (result.code !== 0) {
    throw new Error(`server init failed: ${result.stderr}`);
  }
  return dir;
}

/** A server process started by {@linkcode startServer}. */
export interface ServerProcess {
  port: number;
  /** The process, for signals. */
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
 * Starts `server.ts serve` on a free loopback port and waits for its
 * `listening on` line.
 *
 * @param dataDir The election directory.
 * @param extraArgs More serve options.
 * @returns The running server.
 */
export async function startServer(
  dataDir: string,
  extraArgs: string[] = [],
): Promise<ServerProcess> {
  const certs = await testCerts();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...taskFlags("server"),
      join(ROOT, "server.ts"),
      "--port",
      "0",
      "--data",
      dataDir,
      "--cert",
      join(certs, "server.crt"),
      "--key",
      join(certs, "server.key"),
      ...extraArgs,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
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
  const stderrDone = pump(child.stderr, (t) => err += t);
  const deadline = Date.now() + 20_000;
  while (!/listening on .*:\d+\n/.test(out)) {
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 20)),
    ]);
    if (exited || Date.now() > deadline) {
      await Promise.all([stdoutDone, stderrDone]);
      throw new Error(`server did not start:\n${out}\n${err}`);
    }
  }
  const port = Number(out.match(/listening on .*:(\d+)\n/)![1]);
  const wait = async () => {
    const status = await child.status;
    await Promise.all([stdoutDone, stderrDone]);
    return status;
  };
  return {
    port,
    child,
    stderr: () => err,
    stdout: () => out,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      return (await wait()).code;
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await wait();
    },
  };
}

/**
 * Runs the real client against a test server with a piped session.
 *
 * @param port The server's port.
 * @param lines The voter's answers, one per line.
 * @param extraArgs More client options.
 * @returns Exit code and output.
 */
export async function runClient(
  port: number,
  lines: string[],
  extraArgs: string[] = [],
): Promise<Output> {
  const certs = await testCerts();
  return await runProgram("client", [
    "--port",
    String(port),
    "--ca",
    join(certs, "ca.crt"),
    ...extraArgs,
  ], { stdin: lines.map((line) => `${line}\n`).join("") });
}

/** The main menu exactly as the issue prints it. */
export const MENU = [
  "Please enter a number (1-4)",
  "1. Vote",
  "2. View election result",
  "3. My vote history",
  "4. Exit",
];

/** The client's three login prompts when stdin is not a terminal. */
export const LOGIN_PROMPTS = ["Name:", "Registration number:", "Password:"];

/** The seed's voters: name, registration number, password. */
export const ALICE = ["Alice", "1123456", "1234"];
export const BOB = ["Bob", "1138765", "5678"];
export const TOM = ["Tom", "1154571", "9012"];

/** Matches a `history` line's time: ISO 8601 UTC to the second. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** Lines of a text, without the empty string after the last newline. */
export function lines(text: string): string[] {
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}

/**
 * An in-process voter speaking the protocol through `lib/` over real TLS:
 * for races and crash rounds, where a client process per voter is too slow.
 *
 * @param port The server's port.
 * @returns The channel, connected and verified.
 */
export async function connectVoter(port: number): Promise<ServerChannel> {
  const certs = await testCerts();
  const ca = await Deno.readTextFile(join(certs, "ca.crt"));
  const connection = await connectTls({ host: "localhost", port, ca });
  openChannels.add(connection);
  return new ServerChannel(connection);
}

const openChannels = new Set<Connection>();

/** Closes every connection {@linkcode connectVoter} opened. */
export function closeVoters(): void {
  for (const connection of openChannels) connection.close();
  openChannels.clear();
}

/**
 * Logs a voter in over a channel.
 *
 * @param channel A connected channel.
 * @param voter Name, registration number, password.
 * @returns The server's answer.
 */
export async function logIn(
  channel: ServerChannel,
  [name, number, password]: string[],
): Promise<ServerMessage> {
  return await channel.request({
    type: "login",
    version: PROTOCOL_VERSION,
    name,
    number,
    password,
  });
}
