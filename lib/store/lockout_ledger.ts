/**
 * Where the login throttle keeps its counts: a small storage interface, so
 * that the rules (`lib/server/login_throttle.ts`) stay pure and a shared
 * ledger (PostgreSQL) can hold a lockout across several booth servers. The
 * in-memory ledger here serves one server.
 *
 * @module
 */

/** Failed password checks from one source address for one number. */
export interface PairRecord {
  /** Failures since the last lock (or ever). */
  failures: number;
  /** Locks this pair has had; each doubles the next one's length. */
  lockouts: number;
  /** Locked until this time (ms since the epoch); 0 when never locked. */
  lockedUntil: number;
}

/** Failed password checks of one registration number, from anywhere. */
export interface NumberRecord {
  /**
   * When each recent failure happened (ms since the epoch), oldest first;
   * at most as many as the window's limit.
   */
  failureTimes: number[];
}

/** The two records one login touches; undefined when there is none. */
export interface LockoutRecords {
  /** The (source address, registration number) pair's record. */
  pair: PairRecord | undefined;
  /** The registration number's record. */
  number: NumberRecord | undefined;
}

/** What a change returns: the records to store and a result for the caller. */
export interface LedgerChange<T> {
  /** The new records; undefined deletes one. */
  records: LockoutRecords;
  /** Handed back by {@linkcode LockoutLedger.update}. */
  result: T;
  /**
   * Until when each record must be kept in preference to others (the end
   * of its lock, ms since the epoch): a ledger that must forget records to
   * stay bounded forgets those past this time first.
   */
  keepUntil: { pair: number; number: number };
}

/**
 * Storage for the login throttle. Every method is asynchronous so that a
 * database can implement it.
 */
export interface LockoutLedger extends AsyncDisposable {
  /**
   * Reads the records of (address, number), passes them to `change` and
   * stores what it returns, atomically: no other update of either record
   * interleaves, on this server or another sharing the ledger.
   *
   * @param address The source address.
   * @param number The registration number typed.
   * @param change A pure function of the records (it may be re-run if the
   * ledger retries a transaction).
   * @returns The change's result.
   * @throws {Error} When the ledger cannot be read or written.
   */
  update<T>(
    address: string,
    number: string,
    change: (records: LockoutRecords) => LedgerChange<T>,
  ): Promise<T>;
  /** Releases the ledger's resources. */
  close(): Promise<void>;
}

/** Options of {@linkcode MemoryLockoutLedger}. */
export interface MemoryLedgerOptions {
  /** Pair records kept at most (default 100,000). */
  maxPairs?: number;
  /** Number records kept at most (default 10,000). */
  maxNumbers?: number;
  /** The clock that tells which records' locks have ended. */
  now?: () => number;
}

interface Kept<R> {
  record: R;
  keepUntil: number;
}

/**
 * The ledger of one server, in memory. Bounded: at most `maxPairs` pair
 * records (about 150 bytes each, 15 MB at the default) and `maxNumbers`
 * number records (at most 100 failure times each, about 1 KB, 10 MB at the
 * default). When full it forgets the least recently updated record whose
 * lock has ended, or, if every record is locked, the least recently updated.
 *
 * @example
 * ```ts
 * await using ledger = new MemoryLockoutLedger();
 * const failures = await ledger.update("127.0.0.1", "1123456", (records) => ({
 *   records: { ...records, pair: { failures: 1, lockouts: 0, lockedUntil: 0 } },
 *   result: 1,
 *   keepUntil: { pair: 0, number: 0 },
 * }));
 * ```
 */
export class MemoryLockoutLedger implements LockoutLedger {
  readonly #pairs = new Map<string, Kept<PairRecord>>();
  readonly #numbers = new Map<string, Kept<NumberRecord>>();
  readonly #maxPairs: number;
  readonly #maxNumbers: number;
  readonly #now: () => number;

  /**
   * Creates an empty ledger.
   *
   * @param options Bounds and clock.
   */
  constructor(options: MemoryLedgerOptions = {}) {
    this.#maxPairs = options.maxPairs ?? 100_000;
    this.#maxNumbers = options.maxNumbers ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Records held: pairs and numbers. */
  get size(): { pairs: number; numbers: number } {
    return { pairs: this.#pairs.size, numbers: this.#numbers.size };
  }

  /**
   * Applies `change` to the records of (address, number); synchronous
   * inside, so atomic on this server.
   *
   * @param address The source address.
   * @param number The registration number.
   * @param change A pure function of the records.
   * @returns The change's result.
   */
  update<T>(
    address: string,
    number: string,
    change: (records: LockoutRecords) => LedgerChange<T>,
  ): Promise<T> {
    const pairKey = `${address} ${number}`;
    const outcome = change({
      pair: this.#pairs.get(pairKey)?.record,
      number: this.#numbers.get(number)?.record,
    });
    const { records, keepUntil } = outcome;
    const now = this.#now();
    store(
      this.#pairs,
      pairKey,
      records.pair,
      keepUntil.pair,
      this.#maxPairs,
      now,
    );
    store(
      this.#numbers,
      number,
      records.number,
      keepUntil.number,
      this.#maxNumbers,
      now,
    );
    return Promise.resolve(outcome.result);
  }

  /** Forgets every record. */
  close(): Promise<void> {
    this.#pairs.clear();
    this.#numbers.clear();
    return Promise.resolve();
  }

  /** Same as {@linkcode MemoryLockoutLedger.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function store<R>(
  map: Map<string, Kept<R>>,
  key: string,
  record: R | undefined,
  keepUntil: number,
  max: number,
  now: number,
): void {
  // Deleting first keeps the map in least-recently-updated order.
  map.delete(key);
  if (record === undefined) return;
  if (map.size >= max) evictOne(map, now);
  map.set(key, { record, keepUntil });
}

function evictOne<R>(map: Map<string, Kept<R>>, now: number): void {
  for (const [key, kept] of map) {
    if (kept.keepUntil <= now) {
      map.delete(key);
      return;
    }
  }
  const oldest = map.keys().next().value;
  if (oldest !== undefined) map.delete(oldest);
}
