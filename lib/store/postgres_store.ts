/**
 * The election served from PostgreSQL by any number of booth servers at
 * once: the second implementation of {@linkcode BoothStore}.
 *
 * One vote is one statement, so one round trip and one transaction: the
 * `history` row is inserted with `ON CONFLICT (voter) DO NOTHING` and the
 * candidate's counter is incremented only if that insert happened. Two
 * sessions of one voter on two booths race inside the database, which lets
 * exactly one insert through; the other waits for it to commit and then
 * inserts nothing. A login is one statement (the voter and the lockout count,
 * {@linkcode PostgresStore.lockoutLedger}). Serialization failures (SQLSTATE
 * 40001, what CockroachDB and YugabyteDB return under contention) are
 * retried.
 *
 * Time is the database's: a vote is judged against the polls, and stamped in
 * `history`, at its statement's `statement_timestamp()`, and `server close
 * --database` closes at the database's `now()`, so a booth whose clock is
 * wrong can neither count a ballot after the closing nor before the opening.
 *
 * A booth announces itself in `booth.servers` every couple of seconds, so
 * that `init --force` refuses to replace an election being served.
 *
 * @module
 */

import { decideBallots } from "../election/booth.ts";
import { pollsStateAt } from "../election/polls.ts";
import type { PollsWindow } from "../election/polls.ts";
import type {
  BallotOutcome,
  BoothStore,
  RegisteredVoter,
  Tally,
  VoteRecord,
} from "./booth_store.ts";
import {
  connectDatabase,
  describeDatabaseError,
  unreachableDatabase,
  withRetries,
} from "./postgres_connection.ts";
import type { DatabaseTarget, Sql } from "./postgres_connection.ts";
import { NoDatabaseElectionError, pollsOf } from "./postgres_election.ts";
import { HEARTBEAT_SECONDS, TALLY_SHARDS } from "./postgres_schema.ts";
import { StorageError } from "./booth_store.ts";
import { PostgresLockoutLedger } from "./postgres_lockout_ledger.ts";
import type { PostgresLedgerOptions } from "./postgres_lockout_ledger.ts";

/** Options of {@linkcode PostgresStore.open}. */
export interface PostgresStoreOptions {
  /** Connections at most in this booth's pool (default 10). */
  poolSize?: number;
  /** How this booth is listed in `booth.servers`, e.g. `host:4443`. */
  address?: string;
  /**
   * This booth's clock (default the system's), for the polls window it
   * reports and its first look at a ballot: it is corrected by how far it
   * is from the database's each time the window is read. What counts, and
   * the time in `history`, is the database's clock.
   */
  now?: () => Date;
  /**
   * Called with each statement's text as the pool sends it, to count round
   * trips (tests, measurements).
   */
  onStatement?: (text: string) => void;
}

/**
 * The election in PostgreSQL, as one booth server uses it.
 *
 * @example
 * ```ts
 * import { parseDatabaseUrl } from "./postgres_connection.ts";
 *
 * const url = "postgres://booth@localhost:5432/election";
 * await using store = await PostgresStore.open(parseDatabaseUrl(url));
 * const voter = await store.findVoter("1123456");
 * ```
 */
export class PostgresStore implements BoothStore {
  /** The candidates in ballot order. */
  readonly candidates: readonly string[];
  /** Registered voters; fixed for the election's life. */
  readonly voterCount: number;
  readonly #sql: Sql;
  readonly #now: () => Date;
  readonly #serverId: string;
  readonly #address: string;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #polls:
    | { window: PollsWindow; readAtMs: number; offsetMs: number }
    | undefined;
  #closed = false;
  readonly #ballots = new Set<Promise<BallotOutcome>>();

  private constructor(
    sql: Sql,
    candidates: string[],
    voterCount: number,
    options: PostgresStoreOptions,
  ) {
    this.#sql = sql;
    this.candidates = candidates;
    this.voterCount = voterCount;
    this.#now = options.now ?? (() => new Date());
    this.#serverId = crypto.randomUUID();
    this.#address = options.address ?? "unknown";
  }

  /**
   * Connects to the database and reads the ballot. Nothing is loaded per
   * voter: start-up costs the same for 3 voters or 1,000,000.
   *
   * @param target Where the database is.
   * @param options Pool size, this booth's address, clock.
   * @returns The store.
   * @throws {NoDatabaseElectionError} When the database holds no election.
   * @throws {StorageError} When the database cannot be reached.
   */
  static async open(
    target: DatabaseTarget,
    options: PostgresStoreOptions = {},
  ): Promise<PostgresStore> {
    const sql = connectDatabase(target, {
      max: options.poolSize ?? 10,
      statementTimeoutMs: 10_000,
      onStatement: options.onStatement,
    });
    try {
      const [{ exists }] = await sql`
        SELECT to_regclass('booth.election') IS NOT NULL AS exists`;
      if (!exists) throw new NoDatabaseElectionError(target.redacted);
      const [election, candidates] = await Promise.all([
        sql`SELECT voters FROM booth.election`,
        sql`SELECT name FROM booth.candidates ORDER BY position`,
      ]);
      const store = new PostgresStore(
        sql,
        candidates.map((row) => row.name as string),
        Number(election[0].voters),
        options,
      );
      await store.#beat();
      store.#heartbeat = setInterval(
        () => store.#beat().catch(() => {}),
        HEARTBEAT_SECONDS * 1000,
      );
      return store;
    } catch (error) {
      await sql.end({ timeout: 1 });
      if (error instanceof NoDatabaseElectionError) throw error;
      throw new StorageError(
        `Cannot open the election in the database "${target.redacted}": ${
          describeDatabaseError(error)
        }`,
        { cause: error },
      );
    }
  }

  /**
   * The voter registered under `number`, with their sealed password: one
   * query.
   *
   * @param number A registration number as typed.
   * @returns The voter, or undefined when the number is not registered.
   * @throws {StorageError} When the database cannot answer.
   */
  async findVoter(number: string): Promise<RegisteredVoter | undefined> {
    const rows = await this.#query(() =>
      this.#sql`SELECT name, sealed FROM booth.voters WHERE number = ${number}`
    );
    if (rows.length === 0) return undefined;
    return {
      name: rows[0].name,
      number,
      sealed: new Uint8Array(rows[0].sealed),
    };
  }

  /**
   * Whether `voter` has a committed vote.
   *
   * @param voter A registered voter's name.
   * @returns True once their vote is committed, on any booth.
   * @throws {StorageError} When the database cannot answer.
   */
  async hasVoted(voter: string): Promise<boolean> {
    return await this.voteOf(voter) !== undefined;
  }

  /**
   * The voter's committed vote: who and when, never for whom.
   *
   * @param voter A registered voter's name.
   * @returns The record, or undefined before they vote.
   * @throws {StorageError} When the database cannot answer.
   */
  async voteOf(voter: string): Promise<VoteRecord | undefined> {
    const rows = await this.#query(() =>
      this.#sql`SELECT time FROM booth.history WHERE voter = ${voter}`
    );
    return rows.length === 0
      ? undefined
      : { voter, time: new Date(rows[0].time) };
  }

  /**
   * Decides and records one ballot in one statement: the voter's `history`
   * row and their candidate's count, both or neither, judged on the polls as
   * they stand at commit.
   *
   * The statement reads `booth.election` with a share lock: `server close`
   * updates that row, so it waits for every vote that read the old window to
   * commit, and a vote that comes after it reads the new one. Once `close`
   * has returned, no ballot counts.
   *
   * @param voter A logged-in voter's name.
   * @param choice The 1-based candidate number.
   * @returns `recorded` once committed, `already-voted` when a vote of theirs
   * was committed first (on any booth), `not-on-ballot` for a choice outside
   * the ballot, `polls-not-open` or `polls-closed` outside the polls.
   * @throws {StorageError} When the database did not confirm the commit: the
   * vote is then either recorded or not, and the voter's next try tells.
   */
  recordBallot(voter: string, choice: number): Promise<BallotOutcome> {
    if (this.#closed) {
      return Promise.reject(
        new StorageError("The election's store is closed: no ballot is taken"),
      );
    }
    // Tracked from its first await, so that close() waits for a ballot
    // handed over before it, even one still reading the polls window.
    const ballot = this.#recordBallot(voter, choice);
    this.#ballots.add(ballot);
    const untrack = () => this.#ballots.delete(ballot);
    ballot.then(untrack, untrack);
    return ballot;
  }

  async #recordBallot(voter: string, choice: number): Promise<BallotOutcome> {
    const decide = (polls: PollsWindow, now: Date) =>
      decideBallots(
        [{ voter, choice }],
        {
          candidateCount: this.candidates.length,
          hasVoted: () => false,
          polls: pollsStateAt(polls, now),
        },
        now,
      )[0];
    // A first look on the cached window, on this booth's clock corrected by
    // the database's: the polls only ever close, so a cached "closed" is
    // never wrong, and such a ballot costs no statement.
    const early = decide(await this.pollsWindow(), this.#now());
    if (early.kind !== "recorded") return early;
    const shard = Math.floor(Math.random() * TALLY_SHARDS);
    const rows = await this.#query(() =>
      this.#sql`
        WITH polls AS (
          SELECT opens_at, closes_at, statement_timestamp() AS at
          FROM booth.election FOR SHARE
        ), cast_vote AS (
          INSERT INTO booth.history (voter, time)
          -- ISO 8601 UTC to the second, as a history line has it.
          SELECT ${voter}, to_char(date_trunc('second', at) AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM polls
          WHERE (opens_at IS NULL OR opens_at <= at)
            AND (closes_at IS NULL OR closes_at > at)
          ON CONFLICT (voter) DO NOTHING
          RETURNING time
        ), counted AS (
          UPDATE booth.tally SET votes = votes + 1
          WHERE candidate = ${choice} AND shard = ${shard}
            AND EXISTS (SELECT 1 FROM cast_vote)
          RETURNING 1
        )
        SELECT opens_at, closes_at, at, (SELECT time FROM cast_vote) AS stamp,
          (SELECT count(*) FROM counted) AS counted
        FROM polls`
    );
    if (rows.length !== 1) {
      throw new StorageError("The election's database holds no election");
    }
    const [row] = rows;
    const window = pollsOf(row);
    const at = new Date(row.at);
    this.#polls = {
      window,
      readAtMs: Date.now(),
      offsetMs: at.getTime() - this.#now().getTime(),
    };
    if (Number(row.counted) === 1) {
      return {
        kind: "recorded",
        record: { voter, time: new Date(row.stamp) },
      };
    }
    const judged = decide(window, at);
    return judged.kind === "recorded" ? { kind: "already-voted" } : judged;
  }

  /**
   * Turnout and totals, summed over the counters: one query.
   *
   * @returns Registered, voted and per-candidate totals.
   * @throws {StorageError} When the database cannot answer.
   */
  async tally(): Promise<Tally> {
    const rows = await this.#query(() =>
      this.#sql`
        SELECT candidate, sum(votes)::bigint AS votes FROM booth.tally
        GROUP BY candidate`
    );
    const totals = this.candidates.map(() => 0);
    for (const row of rows) {
      totals[Number(row.candidate) - 1] = Number(row.votes);
    }
    return {
      registered: this.voterCount,
      voted: totals.reduce((sum, n) => sum + n, 0),
      totals,
    };
  }

  /**
   * When the polls open and close, from `booth.election`, re-read at most
   * once a second so that a closing reaches every booth within a second.
   * The times are on this booth's clock: when it is a second or more away
   * from the database's, they are moved by as many whole seconds, so that a
   * booth whose clock is wrong neither shows the result before the closing
   * nor offers a ballot before the opening.
   *
   * @returns The window.
   * @throws {StorageError} When the database cannot answer.
   */
  async pollsWindow(): Promise<PollsWindow> {
    const nowMs = Date.now();
    if (this.#polls === undefined || nowMs - this.#polls.readAtMs >= 1000) {
      const before = this.#now().getTime();
      const [row] = await this.#query(() =>
        this.#sql`SELECT opens_at, closes_at, now() AS at FROM booth.election`
      );
      const after = this.#now().getTime();
      this.#polls = {
        window: pollsOf(row),
        readAtMs: nowMs,
        offsetMs: new Date(row.at).getTime() - (before + after) / 2,
      };
    }
    const { window, offsetMs } = this.#polls;
    const shift = Math.round(offsetMs / 1000) * 1000;
    if (shift === 0) return window;
    const onThisClock = (time: Date | undefined) =>
      time === undefined ? undefined : new Date(time.getTime() - shift);
    return {
      ...(window.opensAt && { opensAt: onThisClock(window.opensAt) }),
      ...(window.closesAt && { closesAt: onThisClock(window.closesAt) }),
    };
  }

  /**
   * The login throttle's ledger in this election's database, over this
   * store's pool: failed logins count the same on every booth. A login
   * asking it to look the voter up in this store is one statement: the
   * voter and the lockout count together. Close it before the store.
   *
   * @param options Bounds, sweep period and clock.
   * @returns The ledger.
   */
  lockoutLedger(options: PostgresLedgerOptions = {}): PostgresLockoutLedger {
    return new PostgresLockoutLedger(this.#sql, { roll: this, ...options });
  }

  /** Stops the heartbeat, withdraws this booth from `booth.servers` and ends the pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await Promise.allSettled([...this.#ballots]);
    await this.#sql`DELETE FROM booth.servers WHERE id = ${this.#serverId}`
      .catch(() => {});
    await this.#sql.end({ timeout: 5 });
  }

  /** Same as {@linkcode close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #beat(): Promise<void> {
    await this.#sql`
      INSERT INTO booth.servers (id, address) VALUES (${this.#serverId}, ${this.#address})
      ON CONFLICT (id) DO UPDATE SET seen_at = now()`;
  }

  // deno-lint-ignore no-explicit-any
  async #query(run: () => Promise<any[]>): Promise<any[]> {
    try {
      return await withRetries(run);
    } catch (error) {
      throw unreachableDatabase(error);
    }
  }
}
