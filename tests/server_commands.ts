/**
 * The election official's `server` subcommands as the end-to-end tests run
 * them: the real program, its output collected.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  certFlags,
  lines,
  ROOT,
  runProgram,
  serverTlsFlags,
  startServer,
} from "./helpers.ts";
import { programArgs } from "../tools/processes.ts";
import type { Output, ServerProcess } from "../tools/processes.ts";
import { tempDir } from "./temp_dir.ts";
import type { ClientMessage, ServerMessage } from "../lib/wire/protocol.ts";
import type { ElectionReportSummary } from "../lib/store/report.ts";

/**
 * Runs `server` with a subcommand and its flags, to the end.
 *
 * @example
 * ```ts
 * const report = await server("report", "--data", "data", "--json");
 * console.log(report.code);
 * ```
 *
 * @param args The subcommand and its flags.
 * @returns The exit code and what the program printed.
 */
export function server(...args: string[]): Promise<Output> {
  return runProgram("server", args);
}

/**
 * Runs `server` expecting a refusal: fails the test unless it exits with
 * `code`, prints nothing on stdout and exactly one line on stderr.
 *
 * @example
 * ```ts
 * const line = await refusal(2, ["init", "--data", "d", "--quiet=yes"]);
 * ```
 *
 * @param code The exit status expected (1: refused, 2: a usage error).
 * @param args The subcommand and its flags.
 * @returns The line on stderr.
 */
export async function refusal(code: number, args: string[]): Promise<string> {
  const out = await server(...args);
  assert.equal(out.code, code, `${args.join(" ")}: ${out.stderr}`);
  assert.equal(out.stdout, "");
  const all = lines(out.stderr);
  assert.equal(all.length, 1, `one line expected:\n${out.stderr}`);
  return all[0];
}

/**
 * `server report --json` on an election, parsed; fails the test unless it
 * exits 0.
 *
 * @example
 * ```ts
 * const summary = await reportSummary("--data", "data");
 * console.log(summary.state);
 * ```
 *
 * @param election The flags that name it: `--data DIR` or `--database URL`.
 * @returns What the report says.
 */
export async function reportSummary(
  ...election: string[]
): Promise<ElectionReportSummary> {
  const out = await server("report", ...election, "--json");
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout);
}

/**
 * Fails the test unless the report's SHA-256 of each election file is the
 * hash of that file in `dir` (the election's directory, or an export of it).
 *
 * @param summary What `server report --json` said.
 * @param dir The directory holding the election's files.
 * @throws {assert.AssertionError} On the first hash that differs.
 */
export async function assertReportHashes(
  summary: ElectionReportSummary,
  dir: string,
): Promise<void> {
  for (
    const file of ["candidates", "passwords", "result", "history"] as const
  ) {
    assert.equal(
      summary.sha256[file],
      sha256(await Deno.readFile(join(dir, file))),
      `the report's hash of ${file} is the hash of ${join(dir, file)}`,
    );
  }
}

/**
 * `server serve` on the election, expected to refuse to start: returns its
 * one line on stderr (and nothing on stdout). A server that starts instead is stopped and fails the
 * test (it would otherwise serve forever).
 *
 * @param data The election directory.
 * @param certs A directory holding the `server.crt` and `server.key` to
 * serve with (the test certificates unless given).
 * @returns The line the server printed on stderr.
 * @throws {assert.AssertionError} When the server started, did not exit 1,
 * printed on stdout, or printed more or less than one line on stderr.
 */
export async function refusedServe(
  data: string,
  certs?: string,
): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: programArgs("server", [
      "--data",
      data,
      "--port",
      "0",
      ...(certs === undefined ? await serverTlsFlags() : certFlags(certs)),
    ]),
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let printed = "";
  const listening = (async () => {
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      printed += chunk;
      if (printed.includes("listening on")) return true;
    }
    return false;
  })();
  const started = await Promise.race([
    listening,
    child.status.then(() => false),
  ]);
  if (started) child.kill("SIGTERM");
  const { code } = await child.status;
  await listening;
  const all = lines(await stderr);
  assert.ok(!started, "the server started");
  assert.equal(printed, "", "a refused server prints nothing on stdout");
  assert.equal(code, 1);
  assert.equal(all.length, 1, `expected one line, got:\n${all.join("\n")}`);
  return all[0];
}

/**
 * Creates an election with `server init` in `root`/data: the seed's, unless
 * `flags` say otherwise.
 *
 * @example
 * ```ts
 * const data = await initElectionIn("/tmp/t", "--closes-at", "2026-11-26T19:00:00Z");
 * ```
 *
 * @param root A directory the test owns.
 * @param flags More flags of `server init`.
 * @returns The election directory.
 * @throws {assert.AssertionError} When `server init` fails.
 */
export async function initElectionIn(
  root: string,
  ...flags: string[]
): Promise<string> {
  const data = join(root, "data");
  const init = await server("init", "--data", data, ...flags);
  assert.equal(init.code, 0, init.stderr);
  return data;
}

/** An election in a directory of the test's own, served by a running server. */
export interface ServedElection extends AsyncDisposable {
  /** The election directory. */
  readonly data: string;
  /** The server, listening. */
  readonly server: ServerProcess;
}

/**
 * Creates an election with `server init` in a new temporary directory (the
 * seed's, unless `initFlags` say otherwise) and starts a server on it.
 * Disposing stops the server, fails the test unless it exited 0 (a clean
 * shutdown), and removes the directory.
 *
 * @example
 * ```ts
 * await using booth = await servedElection("booth-example-");
 * console.log(booth.server.port);
 * ```
 *
 * @param prefix The temporary directory's prefix.
 * @param initFlags More flags of `server init`.
 * @returns The election and its server.
 * @throws {assert.AssertionError} When `server init` fails.
 */
export async function servedElection(
  prefix: string,
  ...initFlags: string[]
): Promise<ServedElection> {
  await using owned = new AsyncDisposableStack();
  const tmp = owned.use(await tempDir(prefix));
  const data = await initElectionIn(tmp.path, ...initFlags);
  const server = await startServer(data);
  owned.defer(async () => {
    assert.equal(await server.stop(), 0, "the server's exit status");
  });
  const resources = owned.move();
  return {
    data,
    server,
    [Symbol.asyncDispose]: () => resources.disposeAsync(),
  };
}

/**
 * Runs `server passwd` for one voter, appending the new password to a
 * credentials file.
 *
 * @param data The election directory.
 * @param voter The voter's name.
 * @param credentials The credentials file to append to.
 * @returns The exit code and what the program printed.
 */
export function passwdInto(
  data: string,
  voter: string,
  credentials: string,
): Promise<Output> {
  return server(
    "passwd",
    "--data",
    data,
    "--voter",
    voter,
    "--credentials",
    credentials,
  );
}

/**
 * The `server init` command line that creates an election in `data` from a
 * voter roll and writes the voters' credentials (generated passwords
 * included) to a file.
 *
 * @example
 * ```ts
 * const init = await server(...initWithCredentials("d", "roll.txt", "out.txt"));
 * ```
 *
 * @param data The election directory.
 * @param roll The voter roll (`--voters`).
 * @param credentials The credentials file (`--credentials`).
 * @returns The subcommand and its flags, for {@linkcode server} or
 * {@linkcode refusal}.
 */
export function initWithCredentials(
  data: string,
  roll: string,
  credentials: string,
): string[] {
  return [
    "init",
    "--data",
    data,
    "--voters",
    roll,
    "--credentials",
    credentials,
  ];
}

/**
 * Runs `server kit` with the certificate and CA that `makeCerts` wrote.
 *
 * @param certs The directory of `server.crt` and `ca.crt`.
 * @param out The kit's directory (`--out`).
 * @param flags More flags (`--host`, `--port`, `--name`, `--force`...).
 * @returns The exit code and what the program printed.
 */
export function kit(
  certs: string,
  out: string,
  ...flags: string[]
): Promise<Output> {
  return server(
    "kit",
    "--cert",
    join(certs, "server.crt"),
    "--ca",
    join(certs, "ca.crt"),
    "--out",
    out,
    ...flags,
  );
}

/**
 * Writes the seed's voters as a roll in which Alice and Bob have no password
 * (for `init --credentials` to generate) and Tom keeps his.
 *
 * @param dir A directory the test owns.
 * @returns The roll's path, `dir`/roll.txt.
 */
export async function writeRollToGenerate(dir: string): Promise<string> {
  const roll = join(dir, "roll.txt");
  await Deno.writeTextFile(
    roll,
    "Alice 1123456\nBob 1138765\nTom 1154571 9012\n",
  );
  return roll;
}

/** The files `server export` writes: an election directory's, the journal aside. */
export const EXPORTED_FILES = [
  "symkey",
  "passwords",
  "candidates",
  "result",
  "history",
  "polls",
];

/** A password `init --voters` or `passwd` generates: three groups of four. */
export const GENERATED_PASSWORD =
  /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/;

/**
 * A command's output that must be exactly one line.
 *
 * @param text What the command printed.
 * @returns The line, trimmed.
 * @throws {assert.AssertionError} When `text` is not one line.
 */
export function oneLine(text: string): string {
  assert.equal(lines(text).length, 1, `one line expected:\n${text}`);
  return text.trim();
}

/**
 * ISO 8601 with an offset, `minutes` from now (as an official types it).
 *
 * @param minutes Minutes from now, negative for the past.
 * @returns The time, e.g. `2026-11-26T10:00:00.000Z`.
 */
export function minutesFromNow(minutes: number): string {
  return new Date(Date.now() + minutes * 60_000).toISOString();
}

/** The SHA-256 of some bytes in lowercase hex, as `report --json` gives a file's. */
function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** What {@linkcode resultOnceShown} saw. */
export interface ShownResult {
  /** The booth's last answer to "view election result". */
  result: ServerMessage;
  /** Milliseconds from the closing to that answer. */
  tookMs: number;
}

/**
 * Asks a logged-in voter's booth for the result (menu choice 2) until it
 * shows one or 10 s have passed since the closing: how soon a `server close`
 * reaches a running booth.
 *
 * @param voter A logged-in voter's channel.
 * @param closedAt When the polls were closed, by `performance.now()`.
 * @returns The last answer and how long after the closing it came.
 */
export async function resultOnceShown(
  voter: { request(message: ClientMessage): Promise<ServerMessage> },
  closedAt: number,
): Promise<ShownResult> {
  let result: ServerMessage;
  do {
    result = await voter.request({ type: "menu", choice: 2 });
  } while (
    result.type === "result" && result.answer === 0 &&
    performance.now() - closedAt < 10_000
  );
  return { result, tookMs: performance.now() - closedAt };
}

/** A time as `polls` and the report write it when it has no milliseconds. */
const WHOLE_SECOND_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/**
 * The review's early closing, on an election created to open in an hour:
 * `close --at` in half an hour makes the report say the polls never open
 * (no "not yet open", no moved opening time); `close` now then closes them
 * at a whole second, and the report says they closed before opening, with
 * turnout 0 and the result.
 *
 * @param election The flags naming the election (`--data DIR` or
 * `--database URL`).
 * @returns The report after the closing.
 * @throws {assert.AssertionError} When a command or report says otherwise.
 */
export async function assertClosedBeforeOpening(
  ...election: string[]
): Promise<ElectionReportSummary> {
  const later = await server("close", ...election, "--at", minutesFromNow(30));
  assert.equal(later.code, 0, later.stderr);
  assert.match(oneLine(later.stdout), /before they opened: they never open$/);
  const before = await reportSummary(...election);
  assert.equal(before.state, "never-opens");
  assert.match(before.reportedAt, WHOLE_SECOND_UTC);
  assert.equal(before.neverOpens, true);
  assert.equal(before.opensAt, undefined, "a moved opening is no opening");
  assert.equal(before.result, undefined, "no result before the closing");
  const text = await server("report", ...election);
  assert.equal(text.code, 0, text.stderr);
  const shown = lines(text.stdout);
  assert.ok(
    shown.includes("State: never opens (closed before opening)"),
    text.stdout,
  );
  assert.ok(shown.includes(`Closes at: ${before.closesAt}`), text.stdout);
  assert.ok(!shown.some((l) => l.startsWith("Opens at:")), text.stdout);

  const now = await server("close", ...election);
  assert.equal(now.code, 0, now.stderr);
  const closedAt = oneLine(now.stdout).match(/ closed at (\S+), before/)?.[1];
  assert.match(closedAt ?? now.stdout, WHOLE_SECOND_UTC);
  const after = await reportSummary(...election);
  assert.equal(after.state, "closed");
  assert.equal(after.neverOpens, true);
  assert.equal(after.opensAt, undefined);
  assert.equal(after.closesAt, closedAt);
  assert.deepEqual([after.voted, after.turnoutPercent], [0, 0]);
  assert.ok(after.result !== undefined, "the result shows from the closing on");
  const final = await server("report", ...election);
  assert.ok(
    lines(final.stdout).includes(
      "State: closed before opening (the polls never opened)",
    ),
    final.stdout,
  );
  assert.ok(lines(final.stdout).includes(`Closed at: ${closedAt}`));
  return after;
}
