/**
 * Password-guessing defence. Passwords here are short PINs, so failed
 * password checks are counted twice, over a {@linkcode LockoutLedger}:
 *
 * - per (source address, registration number): `threshold` failures (5)
 *   lock that pair for `lockSeconds` (30 s), doubling with each further
 *   lock up to `maxLockSeconds` (24 h); a success resets the pair. Someone
 *   guessing Alice's number from one address does not lock Alice out at
 *   hers.
 * - per registration number, from every address: at most `windowLimit`
 *   (100) failed checks in any `windowSeconds` (24 h), after which the
 *   number is locked for everyone until the window has passed (NIST SP
 *   800-63B §5.2.2): many addresses together get no more guesses.
 *
 * A login refused because of a lock is not a password check and counts for
 * nothing. Unknown numbers are counted the same way, so a lock does not
 * tell an attacker who is registered.
 *
 * The rules are pure functions ({@linkcode admitCheck},
 * {@linkcode clearAfterSuccess}) of the records and the time; the
 * {@linkcode LoginThrottle} runs them inside the ledger's atomic update.
 *
 * @module
 */

import { MemoryLockoutLedger } from "../store/lockout_ledger.ts";
import type {
  LedgerChange,
  LockoutLedger,
  LockoutRecords,
} from "../store/lockout_ledger.ts";
import { systemClock } from "./clock.ts";
import type { Clock } from "./clock.ts";

/** The numbers behind the rules. */
export interface LockoutPolicy {
  /** Failures of one (address, number) pair that lock it. */
  threshold: number;
  /** The pair's first lock, in seconds. */
  lockSeconds: number;
  /** The pair's longest lock, in seconds. */
  maxLockSeconds: number;
  /** Failed checks of one number, from anywhere, allowed in the window. */
  windowLimit: number;
  /** The window, in seconds. */
  windowSeconds: number;
}

/** The defaults: 5 failures, 30 s doubling to 24 h; 100 per 24 h. */
export const DEFAULT_LOCKOUT_POLICY: Readonly<LockoutPolicy> = Object.freeze({
  threshold: 5,
  lockSeconds: 30,
  maxLockSeconds: 24 * 3600,
  windowLimit: 100,
  windowSeconds: 24 * 3600,
});

/** Who a lock applies to. */
export type LockScope = "address" | "everyone";

/** A lock: how long, and for whom. */
export interface Lock {
  /** Whole seconds (at least 1). */
  seconds: number;
  /** The one source address, or every address. */
  scope: LockScope;
}

/** What {@linkcode admitCheck} decides about one login. */
export type CheckVerdict =
  | {
    /** Check the password; this check already counts as a failure. */
    allowed: true;
    /** When the check was counted (ms), to undo it after a success. */
    at: number;
    /** The lock this check starts if the password is wrong. */
    locksIfWrong: Lock | undefined;
  }
  | {
    /** Locked: refuse without checking the password. */
    allowed: false;
    /** The lock in force. */
    lock: Lock;
  };

/**
 * Decides whether a login may check its password. A check is counted as a
 * failure at once (a success undoes it), so logins racing from many
 * connections cannot check more than the limits allow.
 *
 * @param records The pair's and the number's records.
 * @param now The current time in milliseconds.
 * @param policy The limits.
 * @returns The new records, the verdict, and how long the records matter.
 */
export function admitCheck(
  records: LockoutRecords,
  now: number,
  policy: LockoutPolicy,
): LedgerChange<CheckVerdict> {
  const windowMs = policy.windowSeconds * 1000;
  const times = (records.number?.failureTimes ?? []).filter((t) =>
    t > now - windowMs
  );
  const pair = records.pair ?? { failures: 0, lockouts: 0, lockedUntil: 0 };
  const numberLockedUntil = times.length >= policy.windowLimit
    ? times[times.length - policy.windowLimit] + windowMs
    : 0;
  const keepUntil = {
    pair: pair.lockedUntil,
    number: times.length > 0 ? times[times.length - 1] + windowMs : 0,
  };
  const kept = {
    pair: records.pair,
    number: times.length > 0 ? { failureTimes: times } : undefined,
  };
  if (numberLockedUntil > now || pair.lockedUntil > now) {
    const everyone = numberLockedUntil >= pair.lockedUntil;
    const until = Math.max(numberLockedUntil, pair.lockedUntil);
    return {
      records: kept,
      keepUntil,
      result: {
        allowed: false,
        lock: {
          seconds: Math.max(1, Math.ceil((until - now) / 1000)),
          scope: everyone ? "everyone" : "address",
        },
      },
    };
  }
  const failureTimes = [...times, now].slice(-policy.windowLimit);
  let locksIfWrong: Lock | undefined;
  const next = { ...pair, failures: pair.failures + 1 };
  if (next.failures >= policy.threshold) {
    const seconds = Math.min(
      policy.lockSeconds * 2 ** next.lockouts,
      policy.maxLockSeconds,
    );
    next.failures = 0;
    next.lockouts++;
    next.lockedUntil = now + seconds * 1000;
    locksIfWrong = { seconds, scope: "address" };
  }
  if (failureTimes.length >= policy.windowLimit) {
    const seconds = Math.ceil(
      (failureTimes[failureTimes.length - policy.windowLimit] + windowMs -
        now) / 1000,
    );
    if (seconds >= (locksIfWrong?.seconds ?? 0)) {
      locksIfWrong = { seconds, scope: "everyone" };
    }
  }
  return {
    records: { pair: next, number: { failureTimes } },
    keepUntil: {
      pair: next.lockedUntil,
      number: now + windowMs,
    },
    result: { allowed: true, at: now, locksIfWrong },
  };
}

/**
 * Undoes the failure {@linkcode admitCheck} counted for a check whose
 * password was right, and resets the pair.
 *
 * @param records The pair's and the number's records.
 * @param at When the check was counted (the verdict's `at`).
 * @returns The new records.
 */
export function clearAfterSuccess(
  records: LockoutRecords,
  at: number,
): LedgerChange<void> {
  const times = [...records.number?.failureTimes ?? []];
  const index = times.lastIndexOf(at);
  if (index >= 0) times.splice(index, 1);
  return {
    records: {
      pair: undefined,
      number: times.length > 0 ? { failureTimes: times } : undefined,
    },
    keepUntil: { pair: 0, number: 0 },
    result: undefined,
  };
}

/** Options of {@linkcode LoginThrottle}: the policy's numbers and a clock. */
export interface LoginThrottleOptions extends Partial<LockoutPolicy> {
  /** The clock (default: the system's). */
  clock?: Clock;
}

/**
 * The login throttle of a server: the rules over a ledger, with a clock.
 *
 * @example
 * ```ts
 * const throttle = new LoginThrottle();
 * const verdict = await throttle.admit("127.0.0.1", "1123456");
 * if (verdict.allowed) {
 *   // check the password; after a success:
 *   await throttle.recordSuccess("127.0.0.1", "1123456", verdict.at);
 * }
 * ```
 */
export class LoginThrottle {
  /** The limits in force. */
  readonly policy: Readonly<LockoutPolicy>;
  readonly #ledger: LockoutLedger;
  readonly #clock: Clock;

  /**
   * Creates a throttle over a ledger.
   *
   * @param ledger Where the counts live (default: in memory, this server
   * only).
   * @param options The policy (defaults: {@linkcode DEFAULT_LOCKOUT_POLICY})
   * and the clock.
   */
  constructor(
    ledger: LockoutLedger = new MemoryLockoutLedger(),
    options: LoginThrottleOptions = {},
  ) {
    const { clock, ...policy } = options;
    this.policy = Object.freeze({ ...DEFAULT_LOCKOUT_POLICY, ...policy });
    this.#ledger = ledger;
    this.#clock = clock ?? systemClock;
  }

  /**
   * Asks whether a login from `address` for `number` may check its
   * password, and counts the check.
   *
   * @param address The source address.
   * @param number The registration number typed.
   * @returns The verdict.
   * @throws {Error} When the ledger fails.
   */
  admit(address: string, number: string): Promise<CheckVerdict> {
    return this.#ledger.update(
      address,
      number,
      (records) => admitCheck(records, this.#clock.now(), this.policy),
    );
  }

  /**
   * Records that the password checked at `at` was right.
   *
   * @param address The source address.
   * @param number The registration number.
   * @param at The verdict's `at`.
   * @throws {Error} When the ledger fails.
   */
  recordSuccess(address: string, number: string, at: number): Promise<void> {
    return this.#ledger.update(
      address,
      number,
      (records) => clearAfterSuccess(records, at),
    );
  }
}
