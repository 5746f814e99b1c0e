/**
 * What the end-to-end tests share: the real entry points run under the
 * permission flags of `deno.json`'s tasks (the same flags `make build`
 * compiles in), certificates made by the script behind `make certs`, and a
 * server process on a free loopback port.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { PROTOCOL_VERSION } from "../lib/wire/protocol.ts";
import type { ServerMessage } from "../lib/wire/protocol.ts";
import { connectTls } from "../lib/client/tls_client.ts";
import type { Connection } from "../lib/wire/connection.ts";
import { ServerChannel } from "../lib/client/voter_client.ts";
import {
  decodedOutput,
  makeCerts,
  ROOT,
  runProgram,
  spawnProgram,
  startServerProcess,
} from "../tools/processes.ts";
import type {
  ListeningOptions,
  Output,
  RunningProgram,
  ServerProcess,
} from "../tools/processes.ts";

export {
  makeCerts,
  occurs,
  ROOT,
  runProgram,
  taskFlags,
} from "../tools/processes.ts";
export type { Output, ServerProcess } from "../tools/processes.ts";

/**
 * Directories made for the whole test process (the shared certificates, the
 * elections of {@linkcode initElection}): removed when the process ends,
 * whether its tests passed or failed.
 */
const processDirs = new Set<string>();
globalThis.addEventListener("unload", () => {
  for (const dir of processDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
});

/** A temporary directory removed when the test process ends. */
function processDir(prefix: string): string {
  const dir = Deno.makeTempDirSync({ prefix });
  processDirs.add(dir);
  return dir;
}

let sharedCerts: Promise<string> | undefined;

/** One set of certificates shared by every test in a process. */
export function testCerts(): Promise<string> {
  sharedCerts ??= makeCerts(processDir("booth-certs-"));
  return sharedCerts;
}

/**
 * Creates an election with the real `server init`, in a temporary directory
 * removed when the test process ends.
 *
 * @param args Extra arguments (`--voters`, `--candidates`, ...).
 * @returns The new election's directory.
 * @throws {Error} With init's output when it fails.
 */
export async function initElection(args: string[] = []): Promise<string> {
  const dir = join(processDir("booth-data-"), "data");
  const result = await runProgram("server", ["init", "--data", dir, ...args]);
  if (result.code !== 0) {
    throw new Error(`server init failed: ${result.stderr}`);
  }
  return dir;
}

/**
 * The flags that give a server the certificate and key in a directory.
 *
 * @param certs A directory holding `server.crt` and `server.key`.
 * @returns `--cert` and `--key` with those paths.
 */
export function certFlags(certs: string): string[] {
  return [
    "--cert",
    join(certs, "server.crt"),
    "--key",
    join(certs, "server.key"),
  ];
}

/**
 * The flags that give a server the test certificate and key, for tests that
 * run the server program themselves (a fresh clone has no `certs/`).
 *
 * @returns `--cert` and `--key` with the test certificates' paths.
 */
export async function serverTlsFlags(): Promise<string[]> {
  return certFlags(await testCerts());
}

/**
 * Starts `server.ts serve` on a free loopback port with the test
 * certificates and waits for its `listening on` line.
 *
 * @param dataDir The election directory.
 * @param extraArgs More serve options.
 * @param options A command to run the server under (`runUnder`).
 * @returns The running server.
 */
export async function startServer(
  dataDir: string,
  extraArgs: string[] = [],
  options: ListeningOptions = {},
): Promise<ServerProcess> {
  return await startServerProcess([
    "--port",
    "0",
    "--data",
    dataDir,
    ...await serverTlsFlags(),
    ...extraArgs,
  ], options);
}

/**
 * The client's flags to reach a test server on `port`, trusting `ca`.
 *
 * @example
 * ```ts
 * await runProgram("client", clientFlags(4443, "certs/ca.crt", "--timeout", "1"));
 * ```
 *
 * @param port The server's port.
 * @param ca The CA certificate the client is to trust.
 * @param more More client options.
 * @returns `--port PORT --ca CA`, then `more`.
 */
export function clientFlags(
  port: number,
  ca: string,
  ...more: string[]
): string[] {
  return ["--port", String(port), "--ca", ca, ...more];
}

/**
 * A voter's answers as typed: each on a line of its own.
 *
 * @param answers The answers.
 * @returns The text for the client's stdin.
 */
export function typed(answers: string[]): string {
  return answers.map((answer) => `${answer}\n`).join("");
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
  return await runProgram(
    "client",
    clientFlags(port, join(certs, "ca.crt"), ...extraArgs),
    { stdin: typed(lines) },
  );
}

/**
 * Runs `tools/build.ts` (what `make build` runs) from the repository root
 * with its Makefile permissions.
 *
 * @param args Its arguments, e.g. `["--dry-run"]`.
 * @returns Exit code and output.
 */
export async function runBuildTool(args: string[]): Promise<Output> {
  return decodedOutput(
    await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-run",
        "--allow-write",
        "tools/build.ts",
        ...args,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output(),
  );
}

/** The main menu exactly as the issue prints it. */
export const MENU = [
  "Please enter a number (1-4)",
  "1. Vote",
  "2. View election result",
  "3. My vote history",
  "4. Exit",
];

/** The seed's ballot as the client prints it when a voter chooses to vote. */
export const BALLOT = [
  "Candidates: (enter 1 or 2)",
  "1. Chris",
  "2. Linda",
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
 * Fails the test unless a program exited 0 and printed exactly `expected` on
 * stdout, line by line (its stderr shown when it did not exit 0).
 */
export function assertPrinted(out: Output, expected: string[]): void {
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(lines(out.stdout), expected);
}

/** A voter's connection opened by {@linkcode connectVoter}; its owner closes it. */
export class TestVoter extends ServerChannel implements AsyncDisposable {
  readonly #connection: Connection;

  /**
   * @param connection A verified TLS connection to the server.
   */
  constructor(connection: Connection) {
    super(connection);
    this.#connection = connection;
  }

  /** Closes this voter's connection only; idempotent. */
  close(): void {
    this.#connection.close();
  }

  /** Closes the connection. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * An in-process voter speaking the protocol through `lib/` over real TLS:
 * for races and crash rounds, where a client process per voter is too slow.
 * The caller owns the connection: close it, or hold it with `await using`.
 *
 * @param port The server's port.
 * @returns The voter, connected and verified.
 * @throws {Error} When the connection or the TLS handshake fails.
 */
export async function connectVoter(port: number): Promise<TestVoter> {
  const certs = await testCerts();
  const ca = await Deno.readTextFile(join(certs, "ca.crt"));
  const voter = new TestVoter(
    await connectTls({ host: "localhost", port, ca }),
  );
  openVoters.add(voter);
  return voter;
}

const openVoters = new Set<TestVoter>();

/**
 * Closes every voter {@linkcode connectVoter} opened in this test process
 * and not closed yet: for a test's `finally` once all its sessions are done.
 * Never call it while another test's voters may still be working (the
 * kill -9 test's workers each close their own).
 */
export function closeVoters(): void {
  for (const voter of openVoters) voter.close();
  openVoters.clear();
}

/**
 * Waits until `condition` holds, checked every 10 ms: for state that no
 * output announces. Prefer {@linkcode ServerProcess.until} for a line the
 * server prints.
 *
 * @param condition The state awaited.
 * @param what Named in the error when the time runs out.
 * @param timeoutMs A safety bound, not a synchronisation.
 * @throws {Error} When `condition` does not hold within `timeoutMs`.
 */
export async function eventually(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
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

/**
 * A server certificate signed by a test CA, with a chosen host name and
 * validity: for the client's refusal of a wrong host or an expired
 * certificate.
 *
 * @param caDir A directory holding `ca.crt` and `ca.key`.
 * @param options `san` for subjectAltName, and the validity dates in
 * `YYYYMMDDHHMMSSZ` form.
 * @returns A directory holding `server.crt` and `server.key`.
 */
export async function makeLeafCert(
  caDir: string,
  options: { san: string; start: string; end: string },
): Promise<string> {
  const dir = processDir("booth-leaf-");
  await Deno.writeTextFile(join(dir, "index.txt"), "");
  await Deno.writeTextFile(join(dir, "serial"), "1000\n");
  await Deno.writeTextFile(
    join(dir, "ca.cnf"),
    `[ca]
default_ca = local
[local]
database = ${dir}/index.txt
new_certs_dir = ${dir}
serial = ${dir}/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[leaf]
subjectAltName = ${options.san}
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
`,
  );
  const script = `set -e
cd "${dir}"
openssl ecparam -name prime256v1 -genkey -noout -out server.key
openssl req -new -key server.key -subj /CN=test -out server.csr
openssl ca -batch -config ca.cnf -cert "${caDir}/ca.crt" -keyfile "${caDir}/ca.key" \\
  -in server.csr -out server.crt -startdate ${options.start} -enddate ${options.end} \\
  -extensions leaf -notext
chmod 600 server.key`;
  await runScript(script, "openssl ca failed");
  return dir;
}

/**
 * Runs a bash script (the openssl steps of a certificate), its output
 * discarded.
 *
 * @param script The script, run with `bash -c`.
 * @param failure What the error says before the script's stderr.
 * @throws {Error} When the script exits non-zero.
 */
async function runScript(script: string, failure: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("bash", {
    args: ["-c", script],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`${failure}: ${new TextDecoder().decode(stderr)}`);
  }
}

/**
 * A `localhost` server certificate issued through an intermediate CA that
 * the given CA signed, valid for 30 days.
 *
 * @param caDir A directory holding `ca.crt` and `ca.key`.
 * @returns A new directory holding `intermediate.crt`, `leaf.crt`,
 * `server.crt` (leaf then intermediate, as a server presents them) and
 * `server.key` (mode 0600).
 */
export async function makeIntermediateChain(caDir: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "booth-chain-" });
  const script = `set -e
cd "${dir}"
openssl ecparam -name prime256v1 -genkey -noout -out intermediate.key
openssl req -new -key intermediate.key -subj /CN=intermediate -out intermediate.csr
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' > intermediate.ext
openssl x509 -req -in intermediate.csr -CA "${caDir}/ca.crt" -CAkey "${caDir}/ca.key" \
  -set_serial 7 -days 30 -extfile intermediate.ext -out intermediate.crt
openssl ecparam -name prime256v1 -genkey -noout -out server.key
openssl req -new -key server.key -subj /CN=localhost -out leaf.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA intermediate.crt -CAkey intermediate.key \
  -set_serial 8 -days 30 -extfile leaf.ext -out leaf.crt
cat leaf.crt intermediate.crt > server.crt
chmod 600 server.key`;
  await runScript(script, "openssl failed");
  return dir;
}

/**
 * Resolves with the bytes a raw TCP peer receives until the server closes
 * the connection, or rejects after `timeoutMs`.
 *
 * @param conn A TCP connection.
 * @param timeoutMs How long to wait for the close.
 * @returns The bytes received.
 */
export async function readUntilClosed(
  conn: Deno.Conn,
  timeoutMs: number,
): Promise<number> {
  let total = 0;
  const buffer = new Uint8Array(4096);
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`still open after ${timeoutMs} ms`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buffer).catch(() => null),
      new Promise<"timeout">((r) =>
        timer = setTimeout(() => r("timeout"), left)
      ),
    ]);
    clearTimeout(timer);
    if (n === "timeout") throw new Error(`still open after ${timeoutMs} ms`);
    if (n === null) return total;
    total += n;
  }
}

/** A client process whose input the test types over time. */
export interface TypingClient {
  /** Types lines, each followed by Enter. */
  type(...answers: string[]): Promise<void>;
  /** Its stdout and stderr as they stream, to wait for a prompt or a line. */
  readonly output: RunningProgram["output"];
  /** Ends the input and waits for the client to exit. */
  finish(): Promise<Output>;
}

/**
 * Starts the real client against a test server with its stdin held open, so
 * a test can let time pass (timeouts) or change the world (a killed server)
 * between answers.
 *
 * @param port The server's port.
 * @returns The running client.
 */
export async function typingClient(port: number): Promise<TypingClient> {
  const certs = await testCerts();
  const client = spawnProgram(
    "client",
    clientFlags(port, join(certs, "ca.crt")),
  );
  return {
    type: (...answers) => client.write(typed(answers)),
    output: client.output,
    finish: () => client.finish(),
  };
}
