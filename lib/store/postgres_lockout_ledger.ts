/**
 * The login throttle's ledger in the election's PostgreSQL, shared by every
 * booth serving it: failed logins count the same whichever booth they reach,
 * so a lockout is per election, not per booth.
 *
 * One update is one transaction: the first statement creates or locks both
 * rows (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, which takes the
 * row lock whether the row was there or not) and returns them; the rules run
 * on them; the second writes the result back. A concurrent update of either
 * row, on this booth or another, waits for the lock, so each password check
 * is counted before the password is checked, as on one booth. Serialization
 * failures and deadlocks (a pair and a number locked in opposite orders) are
 * retried.
 *
 * Bounded: a record that says nothing (no failures, no lock) is deleted at
 * once; a sweep every minute deletes pairs idle for a day whose lock has
 * ended, numbers whose last failure left the window, and beyond `maxPairs`
 * or `maxNumbers` the least recently updated records whose lock has ended.
 *
 * @module
 */

import type {
  LedgerChange,
  LockoutLedger,
  LockoutRecords,
  NumberRecord,
  PairRecord,
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
}

/**
 * The lockout ledger in the election's database, over a pool the caller
 * owns (closing the ledger stops its sweep, not the pool).
 *
 * @example
 * ```ts
 * import { connectDatabase, parseDatabaseUrl } from "./postgres_connection.ts";
 *
 * const sql = connectDatabase(parseDatabaseUrl("postgres://booth@db/election"));
 * await using ledger = new PostgresLockoutLedger(sql);
 * // new LoginThrottle(ledger) in the booth server
 * ```
 */
export class PostgresLockoutLedger implements LockoutLedger {
  readonly #sql: Sql;
  readonly #maxPairs: number;
  readonly #maxNumbers: number;
  readonly #idleMs: number;
  readonly #now: () => number;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  /**
   * Creates the ledger over the election's tables.
   *
   * @param sql A pool on the election's database.
   * @param options Bounds, sweep period and clock.
   */
  constructor(sql: Sql, options: PostgresLedgerOptions = {}) {
    this.#sql = sql;
    this.#maxPairs = options.maxPairs ?? 1_000_000;
    this.#maxNumbers = options.maxNumbers ?? 1_000_000;
    this.#idleMs = options.idleMs ?? 24 * 3600 * 1000;
    this.#now = options.now ?? Date.now;
    const every = options.sweepEveryMs ?? 60_000;
    if (every > 0) {
      const sweeper = setInterval(() => this.sweep().catch(() => {}), every);
      Deno.unrefTimer(sweeper);
      this.#sweeper = sweeper;
    }
  }

  /**
   * Applies `change` to the records of (address, number) in one
   * transaction holding both rows' locks.
   *
   * @param address The source address.
   * @param number The registration number typed.
   * @param change A pure function of the records (re-run on a retry).
   * @returns The change's result.
   * @throws {StorageError} When the database cannot be read or written: the
   * login then checks no password.
   */
  async update<T>(
    address: string,
    number: string,
    change: (records: LockoutRecords) => LedgerChange<T>,
  ): Promise<T> {
    try {
      return await this.#transaction(address, number, change);
    } catch (error) {
      throw unreachableDatabase(error);
    }
  }

  #transaction<T>(
    address: string,
    number: string,
    change: (records: LockoutRecords) => LedgerChange<T>,
  ): Promise<T> {
    return withRetries(() =>
      this.#sql.begin(async (tx) => {
        const now = this.#now();
        const [row] = await tx`
          WITH pair AS (
            INSERT INTO booth.lockout_pairs
              (address, number, failures, lockouts, locked_until, keep_until, updated_at)
            VALUES (${address}, ${number}, 0, 0, 0, 0, ${now})
            ON CONFLICT (address, number) DO UPDATE SET updated_at = EXCLUDED.updated_at
            RETURNING failures, lockouts, locked_until
          ), num AS (
            INSERT INTO booth.lockout_numbers (number, failure_times, keep_until, updated_at)
            VALUES (${number}, '[]', 0, ${now})
            ON CONFLICT (number) DO UPDATE SET updated_at = EXCLUDED.updated_at
            RETURNING failure_times
          )
          SELECT pair.failures, pair.lockouts, pair.locked_until, num.failure_times
          FROM pair, num`;
        const outcome = change(recordsOf(row));
        const { pair, number: numberRecord } = outcome.records;
        await Promise.all([
          pair === undefined || isEmptyPair(pair)
            ? tx`DELETE FROM booth.lockout_pairs
                 WHERE address = ${address} AND number = ${number}`
            : tx`UPDATE booth.lockout_pairs SET failures = ${pair.failures},
                   lockouts = ${pair.lockouts}, locked_until = ${pair.lockedUntil},
                   keep_until = ${outcome.keepUntil.pair}
                 WHERE address = ${address} AND number = ${number}`,
          numberRecord === undefined || isEmptyNumber(numberRecord)
            ? tx`DELETE FROM booth.lockout_numbers WHERE number = ${number}`
            : tx`UPDATE booth.lockout_numbers
                 SET failure_times = ${tx.json(numberRecord.failureTimes)},
                   keep_until = ${outcome.keepUntil.number}
                 WHERE number = ${number}`,
        ]);
        return outcome.result;
      })
    ) as Promise<T>;
  }

  /**
   * Deletes the records that no longer matter, then, beyond the bounds, the
   * least recently updated records whose lock has ended (or, when every
   * record is locked, the least recently updated).
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
        ORDER BY keep_until > ${now} DESC, updated_at DESC
        OFFSET ${this.#maxPairs})`;
    await this.#sql`
      DELETE FROM booth.lockout_numbers WHERE number IN (
        SELECT number FROM booth.lockout_numbers
        ORDER BY keep_until > ${now} DESC, updated_at DESC
        OFFSET ${this.#maxNumbers})`;
  }

  /** Stops the sweep; the pool stays its owner's. */
  close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    return Promise.resolve();
  }

  /** Same as {@linkcode PostgresLockoutLedger.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A freshly inserted row holds zeros and `[]`: the same as no record. */
function recordsOf(
  row: Record<string, unknown>,
): LockoutRecords {
  const pair: PairRecord = {
    failures: Number(row.failures),
    lockouts: Number(row.lockouts),
    lockedUntil: Number(row.locked_until),
  };
  const number: NumberRecord = {
    failureTimes: (row.failure_times as unknown[]).map(Number),
  };
  return {
    pair: isEmptyPair(pair) ? undefined : pair,
    number: isEmptyNumber(number) ? undefined : number,
  };
}

function isEmptyPair(pair: PairRecord): boolean {
  return pair.failures === 0 && pair.lockouts === 0 && pair.lockedUntil === 0;
}

function isEmptyNumber(number: NumberRecord): boolean {
  return number.failureTimes.length === 0;
}
