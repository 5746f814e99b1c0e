/**
 * The login throttle's ledger in the election's PostgreSQL, shared by every
 * booth serving it: failed logins count the same whichever booth they reach,
 * so a lockout is per election, not per booth.
 *
 * A login is ONE autocommit statement, one round trip: it looks the voter up
 * and counts the check by the rules of `lib/election/lockout_rules.ts`,
 * written in SQL. Plain SQL in READ COMMITTED, no stored procedure:
 *
 * - `pair`: `INSERT ... ON CONFLICT (address, number) DO UPDATE` takes the
 *   pair's row lock and sees that row's latest version, whoever wrote it;
 *   each new value is a CASE of that version (locked: unchanged; else one
 *   more failure, and at `threshold` a lock doubling per lock). `check_id`
 *   records this login's token when its check counted.
 * - `num`: inserted `SELECT ... FROM pair`, so it runs after the pair (lock
 *   order pair, then number, everywhere: no deadlock with another login);
 *   it sees the number's latest version and counts the check only if the
 *   pair counted it and the number is not locked (fewer than `windowLimit`
 *   failures left in the window).
 * - the main SELECT joins the roll (`booth.voters`), which never changes
 *   while the election is served.
 *
 * The verdict is read from the rows the statement returns. In the rare case
 * that the pair counted the check but the number turned out locked, a second
 * statement (on that refusal path only) undoes the pair's count, if no later
 * login has touched the pair since.
 *
 * A success's clear is not waited for: it is queued and sent with the others
 * of the moment as one statement per batch (`unnest` of the batch), and
 * {@linkcode PostgresLockoutLedger.close} sends what is left. A clear that
 * fails (the database down) leaves the success's check counted: the lockout
 * is then stricter, never looser.
 *
 * Bounded: a sweep every minute deletes pairs idle for a day whose lock has
 * ended, numbers whose last failure left the window, and beyond `maxPairs`
 * or `maxNumbers` what protects least, as the in-memory ledger does (`Keep`
 * in `lib/election/lockout_rules.ts`): the records standing for the fewest
 * failures (a pair's locks, then its failures; a number's failures), the
 * least recently updated first. Junk logins on other numbers so cannot push a locked
 * number out; a number locked for everyone is never deleted before its
 * lock ends, even beyond `maxNumbers`.
 *
 * @module
 */

import {
  admitCheck,
  DEFAULT_LOCKOUT_POLICY,
  lockInForce,
} from "../election/lockout_rules.ts";
import type {
  CheckVerdict,
  Lock,
  LockoutPolicy,
} from "../election/lockout_rules.ts";
import type {
  Admission,
  LockoutLedger,
  LoginAttempt,
  VoterLookup,
} from "./lockout_ledger.ts";
import { unreachableDatabase, withRetries } from "./postgres_connection.ts";
import type { Sql } from "./postgres_connection.ts";

/** Options of {@linkcode PostgresLockoutLedger}. */
export interface PostgresLedgerOptions {
  /** Pair records kept at most (default 1,000,000). */
  maxPairs?: number;
  /** Number records kept at most (default 1,000,000). */
  maxNumbers?: number;
  /** How long an idle pair whose lock has ended is kept (default 24 h). */
  idleMs?: number;
  /** Milliseconds between sweeps (default 60 s); 0 for none. */
  sweepEveryMs?: number;
  /** The clock that tells which records have expired. */
  now?: () => number;
  /**
   * The store whose roll is in this database (`booth.voters`): an admission
   * asked to look a voter up there reads the roll in its own statement.
   */
  roll?: VoterLookup;
}

/** A type rather than an interface: it is sent as a JSON value. */
type PendingClear = { address: string; number: string; at: number };

/**
 * The lockout ledger in the election's database, over a pool the caller
 * owns (closing the ledger sends its pending clears and stops its sweep,
 * not the pool).
 *
 * @example
 * ```ts
 * import { DEFAULT_LOCKOUT_POLICY } from "../election/lockout_rules.ts";
 * import { connectDatabase, parseDatabaseUrl } from "./postgres_connection.ts";
 *
 * const sql = connectDatabase(parseDatabaseUrl("postgres://booth@db/election"));
 * await using ledger = new PostgresLockoutLedger(sql);
 * const attempt = { address: "192.0.2.1", number: "1123456", now: Date.now() };
 * const { voter, verdict } = await ledger.admit(attempt, DEFAULT_LOCKOUT_POLICY);
 * ```
 */
export class PostgresLockoutLedger implements LockoutLedger {
  readonly #sql: Sql;
  readonly #maxPairs: number;
  readonly #maxNumbers: number;
  readonly #idleMs: number;
  readonly #now: () => number;
  readonly #roll: VoterLookup | undefined;
  /** The window's limit of the last admission: a number at it is locked. */
  #windowLimit = DEFAULT_LOCKOUT_POLICY.windowLimit;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /** Clears not yet sent; the first one queues a send. */
  #pending: PendingClear[] = [];
  /** The sends queued so far, one at a time. */
  #sent: Promise<void> = Promise.resolve();

  /**
   * Creates the ledger over the election's tables.
   *
   * @param sql A pool on the election's database.
   * @param options Bounds, sweep period, clock and the roll's store.
   */
  constructor(sql: Sql, options: PostgresLedgerOptions = {}) {
    this.#sql = sql;
    this.#maxPairs = options.maxPairs ?? 1_000_000;
    this.#maxNumbers = options.maxNumbers ?? 1_000_000;
    this.#idleMs = options.idleMs ?? 24 * 3600 * 1000;
    this.#now = options.now ?? Date.now;
    this.#roll = options.roll;
    const every = options.sweepEveryMs ?? 60_000;
    if (every > 0) {
      const sweeper = setInterval(() => this.sweep().catch(() => {}), every);
      Deno.unrefTimer(sweeper);
      this.#sweeper = sweeper;
    }
  }

  /**
   * Finds the voter and counts the check in one statement (the voter is
   * read from this database's roll when `voters` is omitted or is the
   * ledger's `roll`; any other lookup is asked first, in a round trip of its
   * own).
   *
   * @param attempt The address, number and time.
   * @param policy The limits.
   * @param voters Where to look the voter up.
   * @returns The voter and the verdict.
   * @throws {StorageError} When the database cannot be read or written: the
   * login then checks no password, and nothing was counted.
   */
  async admit(
    attempt: LoginAttempt,
    policy: LockoutPolicy,
    voters?: VoterLookup,
  ): Promise<Admission> {
    this.#windowLimit = policy.windowLimit;
    const elsewhere = voters !== undefined && voters !== this.#roll;
    const voter = elsewhere
      ? await voters.findVoter(attempt.number)
      : undefined;
    let row: Record<string, unknown>;
    const token = crypto.randomUUID();
    try {
      row = await withRetries(() =>
        this.#admitStatement(attempt, policy, token)
      );
    } catch (error) {
      throw unreachableDatabase(error);
    }
    const verdict = verdictOf(row, attempt.now);
    if (row.pair_counted && !row.number_counted) {
      await this.#undoPairCount(attempt, token);
    }
    return {
      voter: elsewhere ? voter : row.name === null ? undefined : {
        name: row.name as string,
        number: attempt.number,
        sealed: new Uint8Array(row.sealed as Uint8Array),
      },
      verdict,
    };
  }

  async #admitStatement(
    { address, number, now }: LoginAttempt,
    policy: LockoutPolicy,
    token: string,
  ): Promise<Record<string, unknown>> {
    // A pair with no row yet: the pure rule's answer for an empty record.
    const fresh = admitCheck(
      { pair: undefined, number: undefined },
      now,
      policy,
    )
      .records.pair!;
    const windowMs = policy.windowSeconds * 1000;
    const [row] = await this.#sql`
      WITH pair AS (
        INSERT INTO booth.lockout_pairs AS p (address, number, failures,
          lockouts, locked_until, keep_until, updated_at, check_id,
          undo_failures, undo_lockouts, undo_locked_until)
        VALUES (${address}, ${number}, ${fresh.failures}::integer,
          ${fresh.lockouts}::integer, ${fresh.lockedUntil}::bigint,
          ${fresh.lockedUntil}::bigint, ${now}::bigint, ${token}, 0, 0, 0)
        ON CONFLICT (address, number) DO UPDATE SET
          (failures, lockouts, locked_until, keep_until, updated_at, check_id,
            undo_failures, undo_lockouts, undo_locked_until) = (
          SELECT
            CASE WHEN locked THEN p.failures WHEN locks THEN 0
              ELSE p.failures + 1 END,
            CASE WHEN locks THEN p.lockouts + 1 ELSE p.lockouts END,
            CASE WHEN locks THEN ${now}::bigint + lock_ms
              ELSE p.locked_until END,
            CASE WHEN locks THEN ${now}::bigint + lock_ms
              ELSE p.locked_until END,
            ${now}::bigint,
            CASE WHEN locked THEN p.check_id ELSE ${token} END,
            CASE WHEN locked THEN p.undo_failures ELSE p.failures END,
            CASE WHEN locked THEN p.undo_lockouts ELSE p.lockouts END,
            CASE WHEN locked THEN p.undo_locked_until ELSE p.locked_until END
          FROM (
            SELECT p.locked_until > ${now}::bigint AS locked,
              p.locked_until <= ${now}::bigint
                AND p.failures + 1 >= ${policy.threshold}::integer AS locks,
              (least(${policy.lockSeconds}::float8 * power(2, p.lockouts),
                ${policy.maxLockSeconds}::float8) * 1000)::bigint AS lock_ms
          ) AS rule)
        RETURNING failures, lockouts, locked_until,
          check_id IS NOT DISTINCT FROM ${token} AS counted
      ), num AS (
        INSERT INTO booth.lockout_numbers AS n (number, failure_times,
          keep_until, updated_at, check_id)
        SELECT ${number},
          CASE WHEN pair.counted THEN ARRAY[${now}::bigint]
            ELSE '{}'::bigint[] END,
          CASE WHEN pair.counted THEN ${now}::bigint + ${windowMs}::bigint
            ELSE 0 END,
          ${now}::bigint,
          CASE WHEN pair.counted THEN ${token} END
        FROM pair
        ON CONFLICT (number) DO UPDATE SET
          (failure_times, keep_until, updated_at, check_id) = (
          SELECT
            CASE WHEN counts THEN kept || ${now}::bigint ELSE kept END,
            CASE WHEN counts THEN ${now}::bigint + ${windowMs}::bigint
              ELSE coalesce(kept[cardinality(kept)] + ${windowMs}::bigint, 0)
            END,
            ${now}::bigint,
            CASE WHEN counts THEN ${token} ELSE n.check_id END
          FROM (
            SELECT kept, EXCLUDED.check_id IS NOT NULL
              AND cardinality(kept) < ${policy.windowLimit}::integer AS counts
            FROM (
              SELECT ARRAY(
                SELECT t FROM unnest(n.failure_times) WITH ORDINALITY AS u(t, i)
                WHERE t > ${now}::bigint - ${windowMs}::bigint ORDER BY i
              ) AS kept
            ) AS window_
          ) AS rule)
        RETURNING
          CASE WHEN cardinality(failure_times) >= ${policy.windowLimit}::integer
            THEN failure_times[
              cardinality(failure_times) - ${policy.windowLimit}::integer + 1
            ] + ${windowMs}::bigint
            ELSE 0 END AS locked_until,
          check_id IS NOT DISTINCT FROM ${token} AS counted
      )
      SELECT pair.failures, pair.lockouts, pair.locked_until,
        pair.counted AS pair_counted, num.locked_until AS number_locked_until,
        num.counted AS number_counted, v.name, v.sealed
      FROM pair CROSS JOIN num
        LEFT JOIN booth.voters v ON v.number = ${number}`;
    return row;
  }

  /**
   * The refusal path where the pair counted a check that the number, locked,
   * refused: puts the pair back as it was, unless another login has counted
   * on it since. A failure here leaves the count (stricter, never looser).
   */
  async #undoPairCount(
    { address, number }: LoginAttempt,
    token: string,
  ): Promise<void> {
    await withRetries(() =>
      this.#sql`
        UPDATE booth.lockout_pairs SET failures = undo_failures,
          lockouts = undo_lockouts, locked_until = undo_locked_until,
          keep_until = undo_locked_until, check_id = NULL
        WHERE address = ${address} AND number = ${number}
          AND check_id = ${token}`
    ).catch(() => {});
  }

  /**
   * Queues the undo of a right password's check and the reset of its pair;
   * sent with the other clears of the moment in one statement, after the
   * login's answer.
   *
   * @param address The source address.
   * @param number The registration number.
   * @param at The verdict's `at`.
   */
  clear(address: string, number: string, at: number): void {
    this.#pending.push({ address, number, at });
    if (this.#pending.length > 1) return;
    // The first clear of a batch queues its send behind the one in flight;
    // the next timer turn lets the login's answer go first.
    this.#sent = this.#sent
      .then(() => new Promise((resolve) => setTimeout(resolve, 0)))
      .then(() => this.#sendClears());
  }

  async #sendClears(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    // Pairs first (the one-time filter on `pairs` runs the DELETE before any
    // number is locked): the same lock order as a login's. The batch goes as
    // one JSON parameter: postgres.js serializes array parameters only once
    // it has loaded the array types, which a fresh connection may not have.
    await withRetries(() =>
      this.#sql`
        WITH batch AS (
          SELECT * FROM jsonb_to_recordset(${this.#sql.json(batch)})
            AS b(address text, number text, at bigint)
        ), pairs AS (
          DELETE FROM booth.lockout_pairs p USING batch b
          WHERE p.address = b.address AND p.number = b.number
          RETURNING 1
        ), cleared AS (
          SELECT number, array_agg(at) AS ats FROM batch GROUP BY number
        )
        UPDATE booth.lockout_numbers n SET failure_times = ARRAY(
          SELECT t FROM (
            SELECT t, i,
              row_number() OVER (PARTITION BY t ORDER BY i DESC) AS nth_last
            FROM unnest(n.failure_times) WITH ORDINALITY AS u(t, i)
          ) AS times
          WHERE nth_last > (
            SELECT count(*) FROM unnest(c.ats) AS a(at) WHERE a.at = times.t)
          ORDER BY i)
        FROM cleared c
        WHERE n.number = c.number AND (SELECT count(*) FROM pairs) >= 0`
    ).catch(() => {});
  }

  /**
   * Deletes the records that no longer matter, then, beyond the bounds, the
   * records standing for the fewest failures, the least recently updated
   * first, but never a number locked for everyone.
   *
   * @throws {Error} When the database cannot be written.
   */
  async sweep(): Promise<void> {
    const now = this.#now();
    await this.#sql`
      DELETE FROM booth.lockout_pairs
      WHERE keep_until <= ${now} AND updated_at <= ${now - this.#idleMs}`;
    await this.#sql`
      DELETE FROM booth.lockout_numbers WHERE keep_until <= ${now}`;
    await this.#sql`
      DELETE FROM booth.lockout_pairs WHERE (address, number) IN (
        SELECT address, number FROM booth.lockout_pairs
        ORDER BY lockouts DESC, failures DESC, updated_at DESC
        OFFSET ${this.#maxPairs})`;
    await this.#sql`
      DELETE FROM booth.lockout_numbers WHERE number IN (
        SELECT number FROM (
          SELECT number, cardinality(failure_times) AS failures, keep_until
          FROM booth.lockout_numbers
          ORDER BY failures DESC, updated_at DESC
          OFFSET ${this.#maxNumbers}) AS beyond
        WHERE failures < ${this.#windowLimit}::integer
          OR keep_until <= ${now})`;
  }

  /**
   * Waits until every clear queued so far has been sent (or has failed,
   * which leaves its check counted).
   */
  async flush(): Promise<void> {
    await this.#sent;
  }

  /** Sends the pending clears and stops the sweep; the pool stays its owner's. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    await this.flush();
  }

  /** Same as {@linkcode PostgresLockoutLedger.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The verdict {@linkcode admitCheck} would give, read from the row the
 * statement returned: the pair's new values, the number's lock, and whether
 * each counted this check.
 */
function verdictOf(row: Record<string, unknown>, now: number): CheckVerdict {
  const lockedUntil = Number(row.locked_until);
  // When the window's limit is reached (0 below it): the oldest failure
  // that counts toward the limit leaves the window. Computed in SQL, since
  // postgres.js parses arrays only once it has loaded their types.
  const numberLockedUntil = Number(row.number_locked_until);
  if (row.pair_counted && row.number_counted) {
    // The pair was not locked before this check: a lock now is its own.
    let locksIfWrong: Lock | undefined = lockedUntil > now
      ? { seconds: (lockedUntil - now) / 1000, scope: "address" }
      : undefined;
    if (numberLockedUntil > 0) {
      const seconds = Math.ceil((numberLockedUntil - now) / 1000);
      if (seconds >= (locksIfWrong?.seconds ?? 0)) {
        locksIfWrong = { seconds, scope: "everyone" };
      }
    }
    return { allowed: true, at: now, locksIfWrong };
  }
  // Refused: by the pair's own lock (it did not count), or by the number's
  // (the pair's count is undone, and its earlier lock had ended).
  return {
    allowed: false,
    lock: lockInForce(
      row.pair_counted ? 0 : lockedUntil,
      numberLockedUntil,
      now,
    ),
  };
}
