/**
 * The shape of tests/vectors/server.json and how a reply is compared with
 * one of its expectations; shared by the replay over TLS and the checks of
 * the file itself. tests/vectors/README.md describes the same in words.
 */

import assert from "node:assert/strict";

/** The whole vectors file. */
export interface VectorFile {
  /** The protocol version the vectors are for. */
  protocol: number;
  /** What the file is, for people. */
  about: string;
  /** The election every suite starts from. */
  election: { voters: [string, string, string][]; candidates: string[] };
  /** Error codes of the closed list that no vector can provoke yet, and why. */
  pendingCodes: string[];
  /** Each suite runs on a fresh election and server, its cases in order. */
  suites: Suite[];
}

/** Cases run in order against one server started with `serverFlags`. */
export interface Suite {
  /** The suite's name. */
  name: string;
  /** Options added to the server's command line. */
  serverFlags: string[];
  /**
   * `postgres`: the election lives in a fresh PostgreSQL database, which the
   * booth reaches through a TCP relay the `cut-database` action closes.
   * Absent: the file store.
   */
  store?: "postgres";
  /**
   * Options added to `server init` after the election's voters and
   * candidates (for example an opening or closing time).
   */
  initFlags?: string[];
  /** The cases, in order: later cases see the votes of earlier ones. */
  cases: Case[];
}

/** One scenario: steps over one or more connections. */
export interface Case {
  /** What the case proves. */
  name: string;
  /** The steps, in order. */
  steps: Step[];
}

/** Something the client does, and what the server must answer. */
export interface Step {
  /** Which connection (opened at its first step); `a` when absent. */
  conn?: string;
  /**
   * On a connection's first step only: the loopback address it connects
   * from (`127.0.0.2` stands for another host); 127.0.0.1 when absent.
   */
  from?: string;
  /** The server's state for this connection before the step. */
  state: "login" | "menu" | "ballot";
  /**
   * `send` (the default): write `hex` in one write. `send-then-end`: write it,
   * then end the stream (TLS close_notify). `wait`: send nothing.
   * `open`: only open the connection (TLS handshake completed).
   * `stop-server`: stop the server (SIGTERM). `cut-database`: make the
   * suite's PostgreSQL unreachable (connections cut, connecting refused).
   */
  action?:
    | "send"
    | "send-then-end"
    | "wait"
    | "open"
    | "stop-server"
    | "cut-database";
  /** The JSON texts whose padded frames make up `hex`, for people. */
  frames?: string[];
  /** The bytes written, as hex. */
  hex?: string;
  /** What `hex` holds when it is not just `frames`. */
  note?: string;
  /** The replies the server sends, in order. */
  expect: Expectation[];
  /** Whether the server closes the connection after those replies. */
  close: boolean;
}

/** One expected reply. */
export interface Expectation {
  /**
   * The reply's JSON object. Every field is compared exactly, except the
   * `message` of an `error` (for people) when it is left out.
   */
  reply: Record<string, unknown>;
  /** Fields whose value varies (a time, seconds left): a pattern each. */
  vary?: Record<string, string>;
  /** Text an error's `message` must not contain. */
  notInMessage?: string;
}

/** Reads and parses the vectors file. */
export async function readVectors(): Promise<VectorFile> {
  return JSON.parse(
    await Deno.readTextFile(new URL("./vectors/server.json", import.meta.url)),
  );
}

/**
 * Asserts that a reply the server sent meets an expectation.
 *
 * @param actual The reply, parsed from its payload as sent.
 * @param expected The expectation.
 * @param where Names the case and step in a failure.
 */
export function assertReply(
  actual: Record<string, unknown>,
  expected: Expectation,
  where: string,
): void {
  const wanted = { ...expected.reply };
  for (const [field, pattern] of Object.entries(expected.vary ?? {})) {
    assert.match(String(actual[field]), new RegExp(pattern), where);
    wanted[field] = actual[field];
  }
  if (wanted.type === "error" && !("message" in wanted)) {
    assert.equal(typeof actual.message, "string", where);
    wanted.message = actual.message;
  }
  if (expected.notInMessage !== undefined) {
    assert.ok(
      !String(actual.message).includes(expected.notInMessage),
      `${where}: message ${JSON.stringify(actual.message)}`,
    );
  }
  assert.deepEqual(actual, wanted, where);
}

/**
 * Hex to bytes.
 *
 * @param hex Two hex digits per byte.
 * @returns The bytes.
 */
export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(
    hex.match(/../g) ?? [],
    (pair) => parseInt(pair, 16),
  );
}
