/**
 * Password-guessing defence: the lockout rules of
 * `lib/election/lockout_rules.ts` (locks per source address and
 * registration number, a 24-hour cap per number) with a policy and a clock,
 * over a {@linkcode LockoutLedger} that keeps the counts (in memory for one
 * server, in PostgreSQL for many).
 *
 * @module
 */

import { DEFAULT_LOCKOUT_POLICY } from "../election/lockout_rules.ts";
import type { LockoutPolicy } from "../election/lockout_rules.ts";
import { MemoryLockoutLedger } from "../store/lockout_ledger.ts";
import type {
  Admission,
  LockoutLedger,
  VoterLookup,
} from "../store/lockout_ledger.ts";
import { systemClock } from "./clock.ts";
import type { Clock } from "./clock.ts";

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
 * const { verdict } = await throttle.admit("127.0.0.1", "1123456");
 * if (verdict.allowed) {
 *   // check the password; after a success:
 *   throttle.recordSuccess("127.0.0.1", "1123456", verdict.at);
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
   * Looks up the voter under `number` and asks whether a login from
   * `address` may check its password, counting the check: one step, one
   * statement on PostgreSQL.
   *
   * @param address The source address.
   * @param number The registration number typed.
   * @param voters Where the voter is looked up (the store); without it the
   * admission's voter is undefined.
   * @returns The voter and the verdict.
   * @throws {Error} When the ledger or the roll fails; nothing was counted.
   */
  admit(
    address: string,
    number: string,
    voters?: VoterLookup,
  ): Promise<Admission> {
    return this.#ledger.admit(
      { address, number, now: this.#clock.now() },
      this.policy,
      voters,
    );
  }

  /**
   * Records that the password checked at `at` was right. Returns at once:
   * the ledger may apply it a moment later, and a clear that fails only
   * leaves the check counted (a stricter lockout, never a looser one).
   *
   * @param address The source address.
   * @param number The registration number.
   * @param at The verdict's `at`.
   */
  recordSuccess(address: string, number: string, at: number): void {
    this.#ledger.clear(address, number, at);
  }
}
