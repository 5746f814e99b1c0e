/**
 * The election official's `server` subcommands as the end-to-end tests run
 * them: the real program, its output collected.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runProgram } from "./helpers.ts";
import type { Output } from "../tools/processes.ts";

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
 * Creates the seed's election with `server init` in `root`/data.
 *
 * @param root A directory the test owns.
 * @returns The election directory.
 * @throws {assert.AssertionError} When `server init` fails.
 */
export async function initElectionIn(root: string): Promise<string> {
  const data = join(root, "data");
  const init = await server("init", "--data", data);
  assert.equal(init.code, 0, init.stderr);
  return data;
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
