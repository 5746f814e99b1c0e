/**
 * Reaching the election's PostgreSQL: the `postgres://` URL of the command
 * line, a bounded connection pool, and errors told in words without ever
 * showing the URL's password.
 *
 * @module
 */

import postgres from "postgres";
import { StorageError } from "./booth_store.ts";
import { escapeForTerminal } from "../terminal/escape.ts";

/** A connection pool to the election's database. */
export type Sql = postgres.Sql;

/** Where the election's database is, parsed from `--database URL`. */
export interface DatabaseTarget {
  /** The URL without its password, for messages and logs. */
  readonly redacted: string;
  /** Host name or address. */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** Database name. */
  readonly database: string;
  /** Role to log in as. */
  readonly user: string;
  /** TLS to the database: off, required, or required and verified. */
  readonly ssl: false | "require" | "verify-full";
  /** The password, from the URL or `PGPASSWORD`; never printed. */
  readonly password: string | undefined;
}

/** Thrown for a `--database` value that is not a usable `postgres://` URL. */
export class DatabaseUrlError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "DatabaseUrlError";
  }
}

/**
 * Parses `--database URL`. The password may be in the URL or, better (it then
 * shows in no process listing), in `PGPASSWORD`.
 *
 * @example
 * ```ts
 * const target = parseDatabaseUrl("postgres://booth:pw@db:5432/election");
 * target.redacted; // "postgres://booth@db:5432/election"
 * ```
 *
 * @param url The URL as given.
 * @param envPassword The value of `PGPASSWORD`, used when the URL has none.
 * @returns The target.
 * @throws {DatabaseUrlError} When the URL is not `postgres://` or
 * `postgresql://` with a host, or names an unknown `sslmode`.
 */
export function parseDatabaseUrl(
  url: string,
  envPassword?: string,
): DatabaseTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseUrlError(
      `Option "--database" takes a postgres:// URL, not "${
        escapeForTerminal(redactText(url), { newlines: false })
      }"`,
    );
  }
  const redactedUrl = redact(parsed);
  if (
    (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") ||
    parsed.hostname === ""
  ) {
    throw new DatabaseUrlError(
      `Option "--database" takes a postgres://user@host:port/database URL, not "${redactedUrl}"`,
    );
  }
  const sslmode = parsed.searchParams.get("sslmode") ?? "disable";
  const modes: Record<string, DatabaseTarget["ssl"]> = {
    disable: false,
    require: "require",
    "verify-full": "verify-full",
  };
  if (!Object.hasOwn(modes, sslmode)) {
    throw new DatabaseUrlError(
      `The database URL's sslmode takes disable, require or verify-full, not "${
        escapeForTerminal(sslmode, { newlines: false })
      }"`,
    );
  }
  const user = decodeUrlPart(parsed.username, "user name") || "postgres";
  const database = decodeUrlPart(parsed.pathname.slice(1), "database name") ||
    user;
  return {
    redacted: redactedUrl,
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 5432 : Number(parsed.port),
    database,
    user,
    ssl: modes[sslmode],
    password: parsed.password !== ""
      ? decodeUrlPart(parsed.password, "password")
      : envPassword,
  };
}

/**
 * A percent-encoded part of the URL, decoded; a `%` not followed by two hex
 * digits (`50%off`) is said in words, the part itself never shown (it may be
 * the password).
 */
function decodeUrlPart(text: string, part: string): string {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    if (!(error instanceof URIError)) throw error;
    throw new DatabaseUrlError(
      `The database URL's ${part} has a "%" that is not followed by two hex digits or does not encode UTF-8 (write "%" as %25)`,
    );
  }
}

function redact(url: URL): string {
  const copy = new URL(url.href);
  copy.password = "";
  return copy.href;
}

/** A string that failed to parse as a URL still must not leak a password. */
function redactText(text: string): string {
  return text.replace(/\/\/([^:/@]*):[^@]*@/, "//$1@");
}

/** Options of {@linkcode connectDatabase}. */
export interface ConnectOptions {
  /** Connections at most (the bounded pool of one booth). */
  max?: number;
  /**
   * Longest statement in milliseconds, so that a database that hangs rather
   * than fails still lets a booth answer its voter; none when omitted (bulk
   * `COPY` of a large roll).
   */
  statementTimeoutMs?: number;
  /** Called with each statement's text as it is sent (postgres.js `debug`). */
  onStatement?: (text: string) => void;
}

/**
 * A bounded connection pool. Connections open on first use and reopen by
 * themselves after the database comes back; an attempt to connect gives up
 * after 3 s, so a voter learns quickly that the election is unavailable.
 *
 * @param target Where the database is.
 * @param options Pool size.
 * @returns The pool; end it with `sql.end()`.
 */
export function connectDatabase(
  target: DatabaseTarget,
  options: ConnectOptions = {},
): Sql {
  return postgres({
    host: target.host,
    port: target.port,
    database: target.database,
    username: target.user,
    password: target.password,
    ssl: target.ssl,
    max: options.max ?? 10,
    connect_timeout: 3,
    idle_timeout: 60,
    onnotice: () => {},
    ...(options.onStatement === undefined ? {} : {
      debug: (_connection: number, text: string) => options.onStatement!(text),
    }),
    connection: {
      application_name: "election-booth",
      ...(options.statementTimeoutMs === undefined
        ? {}
        : { statement_timeout: options.statementTimeoutMs }),
    },
  });
}

/** SQLSTATE codes after which the same transaction may simply run again. */
const RETRYABLE = new Set(["40001", "40P01"]);

/**
 * Runs `attempt` again on a serialization failure (SQLSTATE 40001) or a
 * deadlock (40P01), as PostgreSQL's SERIALIZABLE level, CockroachDB and
 * YugabyteDB require of their clients; up to 8 attempts with a short random
 * backoff.
 *
 * @param attempt One try of a whole transaction.
 * @returns Its result.
 * @throws {Error} The last error, or the first one that is not retryable.
 */
export async function withRetries<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1;; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= 8 || !RETRYABLE.has(sqlState(error) ?? "")) throw error;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.random() * 2 ** tries)
      );
    }
  }
}

/**
 * The SQLSTATE of a database error, or the client's code for a connection
 * problem (e.g. `ECONNREFUSED`, `CONNECTION_CLOSED`).
 *
 * @param error Anything thrown by a query.
 * @returns The code, or undefined.
 */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The error a booth store reports when its database cannot be read or
 * written, with the words of {@linkcode describeDatabaseError}.
 *
 * @param error Anything thrown by a query or a connection attempt.
 * @returns A {@linkcode StorageError} whose cause is `error`.
 */
export function unreachableDatabase(error: unknown): StorageError {
  return new StorageError(
    `The election's database cannot be reached: ${
      describeDatabaseError(error)
    }`,
    { cause: error },
  );
}

/**
 * Words for why the database could not be used, without the password.
 *
 * @param error Anything thrown by a query or a connection attempt.
 * @returns A short description, e.g. `connection refused`.
 */
export function describeDatabaseError(error: unknown): string {
  switch (sqlState(error)) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "unknown host";
    case "CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return "no answer (timed out)";
    case "CONNECTION_CLOSED":
    case "CONNECTION_ENDED":
    case "CONNECTION_DESTROYED":
    case "ECONNRESET":
    case "EPIPE":
      return "the connection was lost";
    case "28P01":
    case "28000":
      return "the database refused the login (check the user and the password, in the URL or PGPASSWORD)";
    case "3D000":
      return "the database does not exist";
    case "57P01":
    case "57P02":
    case "57P03":
      return "the database is shutting down or starting up";
    case "42501":
      return "permission denied";
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
}
