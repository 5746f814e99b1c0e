/**
 * Where the login throttle keeps its counts: a small storage interface, so
 * that the rules (`lib/election/lockout_rules.ts`) stay pure and a shared
 * ledger (PostgreSQL) can hold a lockout across several booth servers. A
 * login's voter lookup goes through the ledger too, so that a ledger beside
 * the roll (PostgreSQL) answers both in one statement. The in-memory ledger
 * here serves one server.
 *
 * @module
 */

import { admitCheck, clearAfterSuccess } from "../election/lockout_rules.ts";
import type {
  CheckVerdict,
  LedgerChange,
  LockoutPolicy,
  LockoutRecords,
  NumberRecord,
  PairRecord,
} from "../election/lockout_rules.ts";
import type { RegisteredVoter } from "../election/booth.ts";

/** Where a login's voter is looked up: a {@linkcode BoothStore}, say. */
export interface VoterLookup {
  /**
   * The voter registered under a registration number.
   *
   * @param number The registration number typed.
   * @returns The voter with their sealed password, or undefined.
   * @throws {StorageError} When the roll cannot be read.
   */
  findVoter(number: string): Promise<RegisteredVoter | undefined>;
}

/** One login as the throttle counts it. */
export interface LoginAttempt {
  /** The source address. */
  address: string;
  /** The registration number typed. */
  number: string;
  /** The current time in milliseconds. */
  now: number;
}

/** What a login learns from {@linkcode LockoutLedger.admit}, in one step. */
export interface Admission {
  /** The voter under the number (undefined when not registered or not asked). */
  voter: RegisteredVoter | undefined;
  /** Whether the password may be checked; when allowed, already counted. */
  verdict: CheckVerdict;
}

/**
 * Storage for the login throttle, running the rules of
 * `lib/election/lockout_rules.ts` ({@linkcode admitCheck},
 * {@linkcode clearAfterSuccess}). Every method that reads is asynchronous
 * so that a database can implement it.
 */
export interface LockoutLedger extends AsyncDisposable {
  /**
   * Finds the voter and decides the login with {@linkcode admitCheck},
   * atomically: no other admission of either record interleaves, on this
   * server or another sharing the ledger. The voter is looked up before
   * anything is counted, so a roll that cannot be read counts nothing.
   *
   * @param attempt The address, number and time.
   * @param policy The limits.
   * @param voters Where to look the voter up; without it the voter is
   * undefined (a ledger beside the roll may answer it itself).
   * @returns The voter and the verdict.
   * @throws {Error} When the ledger or the roll cannot be read or written:
   * nothing was counted.
   */
  admit(
    attempt: LoginAttempt,
    policy: LockoutPolicy,
    voters?: VoterLookup,
  ): Promise<Admission>;
  /**
   * Undoes a right password's check with {@linkcode clearAfterSuccess}. A
   * ledger may apply it later (batched), but before its
   * {@linkcode LockoutLedger.close} resolves; a clear that fails leaves the
   * check counted, which only makes the lockout stricter.
   *
   * @param address The source address.
   * @param number The registration number.
   * @param at The verdict's `at`.
   */
  clear(address: string, number: string, at: number): void;
  /** Applies the pending clears and releases the ledger's resources. */
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
 * import { DEFAULT_LOCKOUT_POLICY } from "../election/lockout_rules.ts";
 *
 * await using ledger = new MemoryLockoutLedger();
 * const attempt = { address: "127.0.0.1", number: "1123456", now: Date.now() };
 * const { verdict } = await ledger.admit(attempt, DEFAULT_LOCKOUT_POLICY);
 * if (verdict.allowed) ledger.clear("127.0.0.1", "1123456", verdict.at);
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
   * Looks the voter up, then runs {@linkcode admitCheck} on the records of
   * (address, number); synchronous once the voter is known, so atomic on
   * this server.
   *
   * @param attempt The address, number and time.
   * @param policy The limits.
   * @param voters Where to look the voter up (default: nowhere).
   * @returns The voter and the verdict.
   * @throws {Error} What `voters` throws; nothing is counted then.
   */
  async admit(
    attempt: LoginAttempt,
    policy: LockoutPolicy,
    voters?: VoterLookup,
  ): Promise<Admission> {
    const voter = await voters?.findVoter(attempt.number);
    const verdict = this.#update(
      attempt.address,
      attempt.number,
      (records) => admitCheck(records, attempt.now, policy),
    );
    return { voter, verdict };
  }

  /**
   * Runs {@linkcode clearAfterSuccess} at once.
   *
   * @param address The source address.
   * @param number The registration number.
   * @param at The verdict's `at`.
   */
  clear(address: string, number: string, at: number): void {
    this.#update(
      address,
      number,
      (records) => clearAfterSuccess(records, at),
    );
  }

  #update<T>(
    address: string,
    number: string,
    change: (records: LockoutRecords) => LedgerChange<T>,
  ): T {
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
    return outcome.result;
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
