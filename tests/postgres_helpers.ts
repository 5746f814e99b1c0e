/**
 * What the PostgreSQL tests share: a database of their own on the server of
 * `BOOTH_TEST_DATABASE_URL` (the one cluster `make test` starts through
 * `tools/with_postgres.ts`, or a server you name), created for one test and
 * dropped after it.
 */

import { randomBytes } from "node:crypto";
import { join } from "node:path";
import postgres from "postgres";
import { generateKey, keyCheckValue } from "../lib/election/crypto.ts";
import type { RollEntry } from "../lib/election/election_files.ts";
import type { PollsWindow } from "../lib/election/polls.ts";
import { parseDatabaseUrl } from "../lib/store/postgres_connection.ts";
import {
  sealRoll,
  writeDatabaseElection,
} from "../lib/store/postgres_election.ts";
import { createDatabase, dropDatabase } from "../tools/postgres_admin.ts";
import { runProgram } from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";
import type { Output } from "./helpers.ts";

/** The server the PostgreSQL tests use. */
export function testServerUrl(): string {
  const url = Deno.env.get("BOOTH_TEST_DATABASE_URL");
  if (!url) {
    throw new Error(
      "BOOTH_TEST_DATABASE_URL is not set: run the tests with `make test` or `deno task test`, which start a PostgreSQL, or set it to a server of yours",
    );
  }
  return url;
}

/** A database created for one test. */
export interface TestDatabase extends AsyncDisposable {
  /** Its URL, password included. */
  readonly url: string;
  /** The password in {@linkcode url} (to check that no output shows it). */
  readonly password: string;
  /** A small pool on it, for the test's own queries. */
  readonly sql: postgres.Sql;
  /** A fresh temp directory for the test's key and files, removed with it. */
  readonly dir: string;
  /**
   * The flags that point a `server` subcommand at this database's election:
   * {@linkcode databaseFlags} with its URL.
   */
  flags(data: string): string[];
}

/**
 * Creates a fresh database on the test server and a temp directory beside
 * it, both removed (the database with any booth still connected) when
 * disposed.
 *
 * @returns The database.
 */
export async function testDatabase(): Promise<TestDatabase> {
  const server = testServerUrl();
  const name = `booth_test_${randomBytes(6).toString("hex")}`;
  const dir = await tempDir("booth-pg-");
  let url: URL;
  try {
    url = await createDatabase(server, name);
  } catch (error) {
    await dir[Symbol.asyncDispose]();
    throw error;
  }
  const sql = postgres(url.href, { max: 3, onnotice: () => {} });
  return {
    url: url.href,
    password: decodeURIComponent(url.password),
    sql,
    dir: dir.path,
    flags: (data) => databaseFlags(url.href, data),
    async [Symbol.asyncDispose]() {
      try {
        await sql.end();
        await dropDatabase(server, name);
      } finally {
        await dir[Symbol.asyncDispose]();
      }
    },
  };
}

/**
 * `server init --database` into `db`, its key in `db.dir`/data: the seed's
 * election unless `more` flags say otherwise. Fails the test unless it
 * succeeds.
 *
 * @param db The test database.
 * @param more Further flags of `init`, e.g. `--voters FILE`.
 * @returns The directory holding the key (`--data`).
 */
export async function initDatabaseElection(
  db: TestDatabase,
  ...more: string[]
): Promise<string> {
  const data = join(db.dir, "data");
  await runServerOk(["init", ...db.flags(data), ...more]);
  return data;
}

/**
 * Runs `server.ts` and fails the test, showing the output, unless it exits 0.
 *
 * @param args The server's arguments.
 * @returns Its output.
 */
export async function runServerOk(args: string[]): Promise<Output> {
  const out = await runProgram("server", args);
  if (out.code !== 0) {
    throw new Error(
      `server ${args[0]} exited ${out.code}:\n${out.stdout}\n${out.stderr}`,
    );
  }
  return out;
}

/**
 * The flags that point a `server` subcommand at an election in a database:
 * `--database URL --data DIR` (DIR holds the key).
 *
 * @example
 * ```ts
 * await runServerOk(["verify", ...databaseFlags(db.url, data)]);
 * ```
 *
 * @param url The database's URL.
 * @param data The election directory with `symkey`.
 * @returns The four arguments.
 */
export function databaseFlags(url: string, data: string): string[] {
  return ["--database", url, "--data", data];
}

/**
 * Runs `server export` into `to`, failing the test unless it succeeds.
 *
 * @example
 * ```ts
 * await exportInto(databaseFlags(db.url, data), join(dir, "out"));
 * ```
 *
 * @param database The flags that name the election: {@linkcode databaseFlags}.
 * @param to The directory to write the election's files into.
 * @returns Its output.
 */
export function exportInto(
  database: string[],
  to: string,
): Promise<Output> {
  return runServerOk(["export", ...database, "--to", to]);
}

/** An election to write into a test database. */
export interface DatabaseElection {
  /** The voter roll, passwords in clear. */
  voters: RollEntry[];
  /** The candidates in ballot order. */
  candidates: string[];
  /** When the polls open and close (none: open at once, never closed). */
  polls?: PollsWindow;
}

/**
 * Writes a fresh election, no vote cast yet, straight into `db`, as
 * `server init --database` would but without a process: the passwords are
 * sealed with `key`.
 *
 * @example
 * ```ts
 * await using db = await testDatabase();
 * await writeElectionInto(db, {
 *   voters: [{ name: "Alice", number: "1123456", password: "1234" }],
 *   candidates: ["Chris", "Linda"],
 * });
 * ```
 *
 * @param db The test database.
 * @param election Its voters, candidates and polls window.
 * @param key The election key K (a fresh one unless given).
 * @returns The key the passwords were sealed with.
 */
export async function writeElectionInto(
  db: TestDatabase,
  election: DatabaseElection,
  key: Uint8Array = generateKey(),
): Promise<Uint8Array> {
  const { voters, candidates, polls } = election;
  await writeDatabaseElection(db.sql, {
    candidates,
    voters: sealRoll(key, voters),
    voterCount: voters.length,
    totals: candidates.map(() => 0),
    history: [],
    polls: polls ?? {},
    keyCheck: keyCheckValue(key),
  }, { redacted: parseDatabaseUrl(db.url).redacted });
  return key;
}
