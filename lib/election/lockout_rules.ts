/**
 * The password-guessing defence's rules. Passwords here are short PINs, so
 * failed password checks are counted twice:
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
 * {@linkcode clearAfterSuccess}) of the records and the time: the in-memory
 * ledger runs them as they are, and they are the specification the
 * PostgreSQL ledger's SQL is tested against.
 *
 * @module
 */

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

/**
 * How much a record matters to a ledger that must forget records to stay
 * bounded. It forgets first a record past its `until` (it protects nothing
 * any more), then the lightest, least recently updated first: to make it
 * forget a record of weight w, an attacker must first fill it with records
 * of weight w or more, so a locked number (weight 100) is forgotten last.
 */
export interface Keep {
  /** When it stops mattering (ms since the epoch); Infinity for never. */
  until: number;
  /**
   * The failures it stands for: a number's failures in the window; a
   * pair's failures, with `threshold` for each lock it has had.
   */
  weight: number;
}

/** What a rule returns: the records to store and a result for the caller. */
export interface LedgerChange<T> {
  /** The new records; undefined deletes one. */
  records: LockoutRecords;
  /** The rule's answer. */
  result: T;
  /** How much each new record matters ({@linkcode Keep}). */
  keep: { pair: Keep; number: Keep };
}

/**
 * How much a number's record matters: until its last failure leaves the
 * window, as much as its failures (oldest first).
 */
function numberKeep(failureTimes: number[], policy: LockoutPolicy): Keep {
  const last = failureTimes.at(-1);
  return last === undefined ? { until: 0, weight: 0 } : {
    until: last + policy.windowSeconds * 1000,
    weight: failureTimes.length,
  };
}

/**
 * How much a pair's record matters: always (its locks double the next
 * one's length), weighed by the failures it stands for.
 */
function pairKeep(pair: PairRecord | undefined, policy: LockoutPolicy): Keep {
  return pair === undefined ? { until: 0, weight: 0 } : {
    until: Infinity,
    weight: pair.lockouts * policy.threshold + pair.failures,
  };
}

/**
 * Decides whether a login may check its password. A check is counted as a
 * failure at once (a success undoes it), so logins racing from many
 * connections cannot check more than the limits allow.
 *
 * @example
 * ```ts
 * const empty = { pair: undefined, number: undefined };
 * const { result } = admitCheck(empty, Date.now(), DEFAULT_LOCKOUT_POLICY);
 * // result.allowed === true: a first check is always allowed
 * ```
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
  const kept = {
    pair: records.pair,
    number: times.length > 0 ? { failureTimes: times } : undefined,
  };
  if (numberLockedUntil > now || pair.lockedUntil > now) {
    return {
      records: kept,
      keep: {
        pair: pairKeep(kept.pair, policy),
        number: numberKeep(times, policy),
      },
      result: {
        allowed: false,
        lock: lockInForce(pair.lockedUntil, numberLockedUntil, now),
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
    keep: {
      pair: pairKeep(next, policy),
      number: numberKeep(failureTimes, policy),
    },
    result: { allowed: true, at: now, locksIfWrong },
  };
}

/**
 * The lock a refused login is told about: the longer of the pair's and the
 * number's, scoped to everyone when the number's is at least as long.
 *
 * @example
 * ```ts
 * lockInForce(0, 90_000, 30_000); // { seconds: 60, scope: "everyone" }
 * ```
 *
 * @param pairLockedUntil The pair's lock end (ms).
 * @param numberLockedUntil The number's lock end (ms).
 * @param now The current time (ms), before at least one of the two ends.
 * @returns The lock, in whole seconds (at least 1).
 */
export function lockInForce(
  pairLockedUntil: number,
  numberLockedUntil: number,
  now: number,
): Lock {
  const until = Math.max(numberLockedUntil, pairLockedUntil);
  return {
    seconds: Math.max(1, Math.ceil((until - now) / 1000)),
    scope: numberLockedUntil >= pairLockedUntil ? "everyone" : "address",
  };
}

/**
 * Undoes the failure {@linkcode admitCheck} counted for a check whose
 * password was right, and resets the pair.
 *
 * @example
 * ```ts
 * const records = { pair: undefined, number: { failureTimes: [5, 9] } };
 * clearAfterSuccess(records, 9, DEFAULT_LOCKOUT_POLICY).records.number;
 * // { failureTimes: [5] }
 * ```
 *
 * @param records The pair's and the number's records.
 * @param at When the check was counted (the verdict's `at`).
 * @param policy The limits the check was admitted under.
 * @returns The new records.
 */
export function clearAfterSuccess(
  records: LockoutRecords,
  at: number,
  policy: LockoutPolicy,
): LedgerChange<void> {
  const times = [...records.number?.failureTimes ?? []];
  const index = times.lastIndexOf(at);
  if (index >= 0) times.splice(index, 1);
  return {
    records: {
      pair: undefined,
      number: times.length > 0 ? { failureTimes: times } : undefined,
    },
    keep: {
      pair: pairKeep(undefined, policy),
      number: numberKeep(times, policy),
    },
    result: undefined,
  };
}
