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

import {
  admitCheck,
  clearAfterSuccess,
  DEFAULT_LOCKOUT_POLICY,
} from "../election/lockout_rules.ts";
import type {
  CheckVerdict,
  Keep,
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
  until: number;
}

/**
 * At most `max` records by key, forgetting when full as {@linkcode Keep}
 * says: a record past its `until` (the first of each weight is looked at),
 * else the least recently changed of the lightest. Constant time per update
 * but for the number of distinct weights (at most the window's limit for
 * numbers, a few for pairs).
 */
class BoundedRecords<R> {
  /** Records by weight, each weight's in the order they last changed. */
  readonly #byWeight = new Map<number, Map<string, Kept<R>>>();
  readonly #weightOf = new Map<string, number>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#weightOf.size;
  }

  get(key: string): R | undefined {
    const weight = this.#weightOf.get(key);
    return weight === undefined
      ? undefined
      : this.#byWeight.get(weight)?.get(key)?.record;
  }

  /**
   * Stores `record` (deletes the key when undefined): as the newest of its
   * weight when its weight or `until` changed, else in its place (a refused
   * login changes neither). A failure files its record last with the latest
   * `until`, so each weight is mostly in the order of `until`; a success's
   * clear can file a record with an earlier `until` behind others, and a
   * record past its `until` behind it is then not seen first: the lightest
   * live record is forgotten instead, never more than it stands for.
   */
  set(key: string, record: R | undefined, keep: Keep, now: number): void {
    const bucket = this.#byWeight.get(keep.weight);
    if (record !== undefined && bucket?.get(key)?.until === keep.until) {
      bucket.set(key, { record, until: keep.until });
      return;
    }
    this.#delete(key);
    if (record === undefined) return;
    if (this.size >= this.#max) this.#forgetOne(now);
    let newest = this.#byWeight.get(keep.weight);
    if (newest === undefined) {
      newest = new Map();
      this.#byWeight.set(keep.weight, newest);
    }
    newest.set(key, { record, until: keep.until });
    this.#weightOf.set(key, keep.weight);
  }

  clear(): void {
    this.#byWeight.clear();
    this.#weightOf.clear();
  }

  #delete(key: string): void {
    const weight = this.#weightOf.get(key);
    if (weight === undefined) return;
    const bucket = this.#byWeight.get(weight)!;
    bucket.delete(key);
    if (bucket.size === 0) this.#byWeight.delete(weight);
    this.#weightOf.delete(key);
  }

  /**
   * Forgets the first of some weight past its `until`, else the least
   * recently changed of the lightest.
   */
  #forgetOne(now: number): void {
    let lightest: { weight: number; key: string } | undefined;
    for (const [weight, bucket] of this.#byWeight) {
      const [key, kept] = bucket.entries().next().value!;
      if (kept.until <= now) return this.#delete(key);
      if (lightest === undefined || weight < lightest.weight) {
        lightest = { weight, key };
      }
    }
    if (lightest !== undefined) this.#delete(lightest.key);
  }
}

/**
 * The ledger of one server, in memory. Bounded: at most `maxPairs` pair
 * records (about 150 bytes each, 15 MB at the default) and `maxNumbers`
 * number records (at most 100 failure times each, about 1 KB, 10 MB at the
 * default). When full it forgets what protects least ({@linkcode Keep}): a
 * number whose failures have left the window, else the least recently
 * updated of the records standing for the fewest failures, so that junk
 * logins on other numbers cannot push a locked number out cheaply: only
 * once every number it holds is locked for everyone does it forget one
 * (the least recently changed).
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
  readonly #pairs: BoundedRecords<PairRecord>;
  readonly #numbers: BoundedRecords<NumberRecord>;
  readonly #now: () => number;
  /** The limits of the last admission, which a clear undoes. */
  #policy: LockoutPolicy = DEFAULT_LOCKOUT_POLICY;

  /**
   * Creates an empty ledger.
   *
   * @param options Bounds and clock.
   */
  constructor(options: MemoryLedgerOptions = {}) {
    this.#pairs = new BoundedRecords(options.maxPairs ?? 100_000);
    this.#numbers = new BoundedRecords(options.maxNumbers ?? 10_000);
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
    this.#policy = policy;
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
      (records) => clearAfterSuccess(records, at, this.#policy),
    );
  }

  #update<T>(
    address: string,
    number: string,
    change: (records: LockoutRecords) => LedgerChange<T>,
  ): T {
    const pairKey = `${address} ${number}`;
    const outcome = change({
      pair: this.#pairs.get(pairKey),
      number: this.#numbers.get(number),
    });
    const { records, keep } = outcome;
    const now = this.#now();
    this.#pairs.set(pairKey, records.pair, keep.pair, now);
    this.#numbers.set(number, records.number, keep.number, now);
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
