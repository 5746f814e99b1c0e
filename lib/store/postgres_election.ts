/**
 * An election's life in PostgreSQL outside of voting: `init --database`
 * (bulk `COPY` of the roll), `init --from` (a file election moved in),
 * `export` (the seed's files back out, byte for byte) and `verify`.
 *
 * The election key K stays in `DIR/symkey` and never enters the database:
 * a stolen database alone reveals no password digest.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  formatKey,
  generateKey,
  keyMatchesCheck,
  sealPassword,
} from "../election/crypto.ts";
import {
  formatCandidates,
  formatPasswords,
  formatResult,
} from "../election/election_files.ts";
import { formatPolls } from "../election/polls.ts";
import type { PollsWindow } from "../election/polls.ts";
import type {
  HistoryEntry,
  RollEntry,
  VoterEntry,
} from "../election/election_files.ts";
import { auditElection } from "./election_state.ts";
import {
  DatabaseKeyError,
  databaseKeyLine,
  databaseKeyOwner,
  electionPaths,
  markDatabaseKey,
} from "./election_dir.ts";
import type { ElectionPaths } from "./election_dir.ts";
import type { ElectionState } from "./election_state.ts";
import {
  denoFileOps,
  lstatOrUndefined,
  replaceFileDurably,
} from "./file_ops.ts";
import { withRetries } from "./postgres_connection.ts";
import type { Sql } from "./postgres_connection.ts";
import {
  CREATE_SCHEMA,
  SCHEMA,
  SERVING_STALE_SECONDS,
  TALLY_SHARDS,
} from "./postgres_schema.ts";

/** Thrown when the database holds no election. */
export class NoDatabaseElectionError extends Error {
  /**
   * Creates the error.
   *
   * @param redacted The database URL without its password.
   */
  constructor(redacted: string) {
    super(
      `No election in the database "${redacted}": run \`deno task server init --database URL\``,
    );
    this.name = "NoDatabaseElectionError";
  }
}

/** Thrown when `init` would replace an election it must not replace. */
export class ElectionExistsError extends Error {
  /**
   * Creates the error.
   *
   * @param message Why the election stays.
   */
  constructor(message: string) {
    super(message);
    this.name = "ElectionExistsError";
  }
}

/**
 * Thrown when the K read from a `symkey` file is not the database
 * election's: every login would fail (and count toward the lockout), a new
 * password would be sealed under the wrong key, and `verify` would flag
 * every voter.
 */
export class WrongElectionKeyError extends Error {
  /**
   * Creates the error.
   *
   * @param keyPath The `symkey` file read.
   */
  constructor(keyPath: string) {
    super(
      `"${keyPath}" is not this election's key: pass --data with the directory init named ("K in DIR/symkey" in its output)`,
    );
    this.name = "WrongElectionKeyError";
  }
}

/**
 * Refuses a K that is not the database election's: compares it with the
 * key-check value `init` stored.
 *
 * @param stored `booth.election.key_check`.
 * @param key K read from `keyPath`.
 * @param keyPath The `symkey` file, for the message.
 * @throws {WrongElectionKeyError} When they do not match.
 */
export function refuseWrongKey(
  stored: Uint8Array,
  key: Uint8Array,
  keyPath: string,
): void {
  if (!keyMatchesCheck(key, new Uint8Array(stored))) {
    throw new WrongElectionKeyError(keyPath);
  }
}

/**
 * Checks K against the database election before a booth or an official's
 * command uses it.
 *
 * @param sql The pool.
 * @param key K read from `keyPath`.
 * @param options The `symkey` path and the redacted URL, for messages.
 * @throws {NoDatabaseElectionError} When the database holds no election.
 * @throws {WrongElectionKeyError} When K is not the election's.
 */
export async function checkDatabaseKey(
  sql: Sql,
  key: Uint8Array,
  options: { keyPath: string; redacted: string },
): Promise<void> {
  const [{ exists }] = await sql`
    SELECT to_regclass('booth.election') IS NOT NULL AS exists`;
  if (!exists) throw new NoDatabaseElectionError(options.redacted);
  const [row] = await sql`SELECT key_check FROM booth.election`;
  refuseWrongKey(row.key_check as Uint8Array, key, options.keyPath);
}

/** What {@linkcode writeDatabaseElection} puts in the database. */
export interface DatabaseElectionContent {
  /** The candidates in ballot order. */
  candidates: string[];
  /** The voter roll, one sealed entry each, in file order. */
  voters: Iterable<{ name: string; number: string; sealed: Uint8Array }>;
  /** Registered voters (the roll's length). */
  voterCount: number;
  /** Votes per candidate (zeros for a new election). */
  totals: number[];
  /** `history` lines in commit order (empty for a new election). */
  history: readonly Pick<HistoryEntry, "name" | "time">[];
  /** When the polls open and close. */
  polls: PollsWindow;
  /** `keyCheckValue(K)` (lib/election/crypto.ts) of the election's K. */
  keyCheck: Uint8Array;
}

/** Options of {@linkcode writeDatabaseElection}. */
export interface WriteElectionOptions {
  /** The database URL without its password, for messages. */
  redacted: string;
  /** Replace an existing election (refused while a booth serves it). */
  force?: boolean;
  /** Called as voters are written. */
  onProgress?: (done: number, total: number) => void;
}

/** Voters per `COPY` chunk written to the server. */
const COPY_CHUNK = 2000;

/**
 * Creates the election's schema and fills it in one transaction: a failure
 * at any point leaves the database as it was. The roll goes in with `COPY`.
 *
 * @param sql The pool.
 * @param content Candidates, roll, totals and history.
 * @param options Whether to replace, progress.
 * @throws {ElectionExistsError} When an election exists and `force` is not
 * set, or a booth server is serving it.
 */
export async function writeDatabaseElection(
  sql: Sql,
  content: DatabaseElectionContent,
  options: WriteElectionOptions,
): Promise<void> {
  await sql.begin(async (tx) => {
    await refuseToReplace(tx, options);
    await tx.unsafe(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await tx.unsafe(CREATE_SCHEMA);
    await tx`
      INSERT INTO booth.election (id, voters, opens_at, closes_at, key_check)
      VALUES (1, ${content.voterCount}, ${content.polls.opensAt ?? null},
              ${content.polls.closesAt ?? null}, ${content.keyCheck})`;
    await tx`INSERT INTO booth.candidates ${
      tx(content.candidates.map((name, i) => ({ position: i + 1, name })))
    }`;
    const tally = content.candidates.flatMap((_, i) =>
      Array.from({ length: TALLY_SHARDS }, (_, shard) => ({
        candidate: i + 1,
        shard,
        votes: shard === 0 ? content.totals[i] : 0,
      }))
    );
    await tx`INSERT INTO booth.tally ${tx(tally)}`;
    const voters =
      await tx`COPY booth.voters (number, name, sealed, position) FROM STDIN`
        .writable();
    let position = 0;
    let chunk = "";
    for (const voter of content.voters) {
      position++;
      chunk += `${copyText(voter.number)}\t${copyText(voter.name)}\t\\\\x${
        Buffer.from(
          voter.sealed.buffer,
          voter.sealed.byteOffset,
          voter.sealed.byteLength,
        ).toString("hex")
      }\t${position}\n`;
      if (position % COPY_CHUNK === 0) {
        await write(voters, chunk);
        chunk = "";
        options.onProgress?.(position, content.voterCount);
      }
    }
    await write(voters, chunk);
    await end(voters);
    options.onProgress?.(position, content.voterCount);
    if (content.history.length > 0) {
      const history = await tx`COPY booth.history (voter, time) FROM STDIN`
        .writable();
      await write(
        history,
        content.history.map((entry) =>
          `${copyText(entry.name)}\t${copyText(entry.time)}\n`
        ).join(""),
      );
      await end(history);
    }
  });
}

async function refuseToReplace(
  tx: Sql,
  options: WriteElectionOptions,
): Promise<void> {
  const [{ exists }] = await tx`
    SELECT to_regclass('booth.election') IS NOT NULL AS exists`;
  if (!exists) return;
  if (!options.force) {
    throw new ElectionExistsError(
      `An election already exists in the database "${options.redacted}": use --force to replace it`,
    );
  }
  const serving = await tx`
    SELECT address FROM booth.servers
    WHERE seen_at > now() - make_interval(secs => ${SERVING_STALE_SECONDS})
    ORDER BY address`;
  if (serving.length > 0) {
    throw new ElectionExistsError(
      `Refusing to replace the election in "${options.redacted}": ${serving.length} booth server(s) serving it (${
        serving.map((row) => row.address).join(", ")
      }); stop them first`,
    );
  }
}

/** Escapes a value for `COPY ... FROM STDIN` text format. */
function copyText(value: string): string {
  return value.replace(
    /[\\\t\n\r]/g,
    (c) =>
      c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r",
  );
}

type Writable = Awaited<ReturnType<ReturnType<Sql>["writable"]>>;

function write(stream: Writable, text: string): Promise<void> {
  if (text === "") return Promise.resolve();
  return new Promise((resolve, reject) => {
    stream.write(text, (error?: Error | null) => {
      if (error) reject(error);
      else resolve();
    });
  });
}

function end(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once("error", reject);
    stream.once("finish", () => resolve());
    stream.end();
  });
}

/** K for a database election, and how to take back what finding it wrote. */
export interface DatabaseKey {
  /** The election key K. */
  key: Uint8Array;
  /**
   * Removes what {@linkcode keyForDatabase} created (a new `symkey`, the
   * `database` mark, the directory), for an init the database refused
   * before writing anything: a key no election uses must not tie DIR to
   * that database. Never call it once an election may hold K.
   */
  undo(): Promise<void>;
}

/**
 * K for a database election: the one in `DIR/symkey` when there is one,
 * else a fresh key written there durably (mode 0600, directory 0700). DIR
 * is marked (its `database` file) as holding the key of the election in
 * `where` before the election is written, so that no file `init` replaces
 * it.
 *
 * @param dir The directory that holds `symkey`.
 * @param where The database, e.g. `the database "postgres://booth@db/booth"`
 * (never a password).
 * @param parse Reads K from the file's text (undefined when malformed).
 * @returns K, and how to undo what was written.
 * @throws {Error} When `symkey` exists but is not a key.
 * @throws {DatabaseKeyError} When DIR holds a file election, or the key of
 * another database's election.
 */
export async function keyForDatabase(
  dir: string,
  where: string,
  parse: (text: string) => Uint8Array | undefined,
): Promise<DatabaseKey> {
  const paths = electionPaths(dir);
  const ops = denoFileOps();
  const created: string[] = [];
  try {
    await refuseForeignKeyDirectory(paths, where);
    const text = await ops.readText(paths.symkey);
    let key: Uint8Array;
    if (text !== undefined) {
      const parsed = parse(text);
      if (parsed === undefined) {
        throw new Error(
          `Key file "${paths.symkey}": line 1 is not 32 bytes of base64`,
        );
      }
      key = parsed;
    } else {
      if (lstatOrUndefined(dir) === undefined) created.push(dir);
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      key = generateKey();
      created.push(paths.symkey);
      await replaceFileDurably(ops, paths.symkey, formatKey(key));
    }
    if (lstatOrUndefined(paths.database) === undefined) {
      created.push(paths.database);
    }
    await markDatabaseKey(paths, ops, where);
    return {
      key,
      async undo() {
        for (const path of created.reverse()) {
          await Deno.remove(path).catch(() => {});
        }
      },
    };
  } finally {
    ops.close();
  }
}

/**
 * Refuses a directory whose `symkey` belongs to a file election, or to the
 * election of another database: sharing it would tie two elections to one
 * K, and a file `init --force` there would kill the database election.
 *
 * @param paths The directory's paths.
 * @param where The database about to use the key.
 * @throws {DatabaseKeyError} When the key is another election's.
 */
export async function refuseForeignKeyDirectory(
  paths: ElectionPaths,
  where: string,
): Promise<void> {
  const owner = await databaseKeyOwner(paths);
  if (owner === undefined) {
    if (lstatOrUndefined(paths.passwords) !== undefined) {
      throw new DatabaseKeyError(
        `${paths.dir}/ holds a file election: choose another --data for the key of the election in ${where} (\`init --database URL --from ${paths.dir}\` moves that election instead)`,
      );
    }
    return;
  }
  if (owner !== databaseKeyLine(where)) {
    throw new DatabaseKeyError(
      `"${paths.symkey}" is ${owner}: choose another --data for the key of the election in ${where}`,
    );
  }
}

/**
 * Seals each voter's password under K, lazily, for
 * {@linkcode writeDatabaseElection}.
 *
 * @param key The election key K.
 * @param roll The voter roll with passwords in clear.
 * @returns The sealed entries in roll order.
 */
export function* sealRoll(
  key: Uint8Array,
  roll: readonly RollEntry[],
): Generator<{ name: string; number: string; sealed: Uint8Array }> {
  for (const voter of roll) {
    yield {
      name: voter.name,
      number: voter.number,
      sealed: sealPassword(key, voter, voter.password),
    };
  }
}

/** The database election's contents, read in one consistent snapshot. */
export interface DatabaseSnapshot {
  /** Candidates in ballot order. */
  candidates: string[];
  /** The roll in file order. */
  voters: VoterEntry[];
  /** Votes per candidate. */
  totals: number[];
  /** Who voted when, in commit order. */
  history: HistoryEntry[];
  /** When the polls open and close. */
  polls: PollsWindow;
  /** The key-check value `init` stored. */
  keyCheck: Uint8Array;
}

/**
 * Reads the whole election in one snapshot (REPEATABLE READ), while booths
 * may keep voting.
 *
 * @param sql The pool.
 * @param redacted The database URL without password, for messages.
 * @returns The election's contents.
 * @throws {NoDatabaseElectionError} When the database holds no election.
 */
export async function readDatabaseElection(
  sql: Sql,
  redacted: string,
): Promise<DatabaseSnapshot> {
  return await withRetries(() =>
    sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
      const [{ exists }] = await tx`
        SELECT to_regclass('booth.election') IS NOT NULL AS exists`;
      if (!exists) throw new NoDatabaseElectionError(redacted);
      const candidates = await tx`
        SELECT name FROM booth.candidates ORDER BY position`;
      const totals = await tx`
        SELECT candidate, sum(votes)::bigint AS votes FROM booth.tally
        GROUP BY candidate ORDER BY candidate`;
      const voters = await tx`
        SELECT name, number, sealed, position FROM booth.voters
        ORDER BY position`;
      const history =
        await tx`SELECT voter, time FROM booth.history ORDER BY seq`;
      const [election] =
        await tx`SELECT opens_at, closes_at, key_check FROM booth.election`;
      return {
        candidates: candidates.map((row) => row.name as string),
        totals: candidates.map((_, i) =>
          Number(
            totals.find((row) => Number(row.candidate) === i + 1)?.votes ?? 0,
          )
        ),
        voters: voters.map((row) => ({
          name: row.name as string,
          number: row.number as string,
          sealed: new Uint8Array(row.sealed as Uint8Array),
          line: row.position as number,
        })),
        history: history.map((row, i) => ({
          name: row.voter as string,
          time: row.time as string,
          line: i + 1,
        })),
        polls: pollsOf(election),
        keyCheck: new Uint8Array(election.key_check as Uint8Array),
      };
    })
  );
}

/**
 * The polls window in a `booth.election` row.
 *
 * @param row The row's `opens_at` and `closes_at`.
 * @returns The window; a null column is no limit on that side.
 */
export function pollsOf(
  row: { opens_at?: Date | null; closes_at?: Date | null },
): PollsWindow {
  const window: PollsWindow = {};
  if (row.opens_at) window.opensAt = new Date(row.opens_at);
  if (row.closes_at) window.closesAt = new Date(row.closes_at);
  return window;
}

/** The seed's files of an election, as text. */
export interface ElectionFiles {
  /** `passwords`. */
  passwords: string;
  /** `candidates`. */
  candidates: string;
  /** `result`. */
  result: string;
  /** `history` (empty when nobody has voted). */
  history: string;
  /** `polls`: the opening and closing times. */
  polls: string;
}

/**
 * The seed's file formats of a database election, byte for byte what the
 * file store writes.
 *
 * @param snapshot The election's contents.
 * @returns Each file's text.
 */
export function electionFiles(snapshot: DatabaseSnapshot): ElectionFiles {
  return {
    passwords: formatPasswords(snapshot.voters),
    candidates: formatCandidates(snapshot.candidates),
    result: formatResult(snapshot.candidates, snapshot.totals),
    history: snapshot.history.map((entry) => `${entry.name} ${entry.time}\n`)
      .join(""),
    polls: formatPolls(snapshot.polls),
  };
}

/**
 * `verify --database`: checks the database election against K, as
 * `verify --data` checks files.
 *
 * @param snapshot The election's contents.
 * @param key K from `DIR/symkey`.
 * @returns The turnout and one line per problem (empty when consistent).
 */
export function auditDatabaseElection(
  snapshot: DatabaseSnapshot,
  key: Uint8Array,
): { voted: number; registered: number; problems: string[] } {
  const state: ElectionState = { key, ...snapshot };
  return {
    voted: snapshot.history.length,
    registered: snapshot.voters.length,
    problems: auditElection(state, {
      passwords: "booth.voters",
      result: "booth.tally",
      history: "booth.history",
    }),
  };
}
