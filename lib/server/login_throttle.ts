/**
 * Password-guessing defence. Passwords here are short PINs, so failures are
 * counted per registration number across all connections: after `threshold`
 * consecutive failures the number is locked for `lockSeconds`, doubling with
 * each further lockout up to `maxLockSeconds`; a successful login resets it.
 * Unknown numbers are counted the same way, so a lockout does not tell an
 * attacker who is registered. NIST SP 800-63B allows at most 100 consecutive
 * failures per account; with the defaults an attacker gets about 5 guesses
 * per 15 minutes once the lock has grown.
 *
 * @module
 */

/** Options of {@linkcode LoginThrottle}. */
export interface LoginThrottleOptions {
  /** Consecutive failures that lock a number (default 5). */
  threshold?: number;
  /** First lock, in seconds (default 30). */
  lockSeconds?: number;
  /** Longest lock, in seconds (default 900). */
  maxLockSeconds?: number;
  /** Numbers tracked at most; the oldest unlocked entries go first. */
  maxTracked?: number;
}

interface Failures {
  consecutive: number;
  lockouts: number;
  lockedUntil: number;
}

/**
 * Counts failed logins per registration number. Pure: every call takes the
 * current time in milliseconds.
 *
 * @example
 * ```ts
 * const throttle = new LoginThrottle({ threshold: 5, lockSeconds: 30 });
 * throttle.lockedFor("1123456", Date.now()); // 0: not locked
 * ```
 */
export class LoginThrottle {
  /** Consecutive failures that lock a number. */
  readonly threshold: number;
  /** Seconds of the first lock. */
  readonly lockSeconds: number;
  /** Seconds of the longest lock. */
  readonly maxLockSeconds: number;
  readonly #maxTracked: number;
  readonly #failures = new Map<string, Failures>();

  /**
   * Creates a throttle that remembers no failure yet.
   *
   * @param options Threshold and lock durations.
   */
  constructor(options: LoginThrottleOptions = {}) {
    this.threshold = options.threshold ?? 5;
    this.lockSeconds = options.lockSeconds ?? 30;
    this.maxLockSeconds = options.maxLockSeconds ?? 900;
    this.#maxTracked = options.maxTracked ?? 100_000;
  }

  /**
   * Seconds until `number` may try again.
   *
   * @param number A registration number, registered or not.
   * @param nowMs The current time in milliseconds.
   * @returns 0 when not locked, else whole seconds left (at least 1).
   */
  lockedFor(number: string, nowMs: number): number {
    const entry = this.#failures.get(number);
    if (!entry || entry.lockedUntil <= nowMs) return 0;
    return Math.ceil((entry.lockedUntil - nowMs) / 1000);
  }

  /**
   * Records a failed login.
   *
   * @param number The registration number typed.
   * @param nowMs The current time in milliseconds.
   * @returns Seconds of the lock this failure started, or 0.
   */
  recordFailure(number: string, nowMs: number): number {
    let entry = this.#failures.get(number);
    if (!entry) {
      this.#evictIfFull(nowMs);
      entry = { consecutive: 0, lockouts: 0, lockedUntil: 0 };
    }
    // Re-inserting keeps the map in least-recently-failed order.
    this.#failures.delete(number);
    this.#failures.set(number, entry);
    entry.consecutive++;
    if (entry.consecutive < this.threshold) return 0;
    const seconds = Math.min(
      this.lockSeconds * 2 ** entry.lockouts,
      this.maxLockSeconds,
    );
    entry.lockouts++;
    entry.consecutive = 0;
    entry.lockedUntil = nowMs + seconds * 1000;
    return seconds;
  }

  /**
   * Records a successful login: the number's failures are forgotten.
   *
   * @param number The registration number.
   */
  recordSuccess(number: string): void {
    this.#failures.delete(number);
  }

  #evictIfFull(nowMs: number): void {
    if (this.#failures.size < this.#maxTracked) return;
    for (const [number, entry] of this.#failures) {
      if (entry.lockedUntil <= nowMs) {
        this.#failures.delete(number);
        return;
      }
    }
    // Every tracked number is locked: drop the oldest rather than grow.
    const oldest = this.#failures.keys().next().value;
    if (oldest !== undefined) this.#failures.delete(oldest);
  }
}
