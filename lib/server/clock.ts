/**
 * Time as an input: the rules that depend on time (login grace, idle
 * timeout, lockouts) take a {@linkcode Clock}, so tests run them on fake time
 * in milliseconds.
 *
 * @module
 */

/** The current time and one-shot timers. */
export interface Clock {
  /**
   * The current time.
   *
   * @returns Milliseconds since the epoch.
   */
  now(): number;
  /**
   * Calls `callback` once, `ms` from now.
   *
   * @param callback What to call.
   * @param ms Milliseconds from now.
   * @returns A function that cancels the timer (harmless once it fired).
   */
  setTimer(callback: () => void, ms: number): () => void;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, ms) {
    const timer = setTimeout(callback, ms);
    return () => clearTimeout(timer);
  },
};
