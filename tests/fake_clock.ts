/**
 * A clock for tests: time moves only when the test says, and timers fire
 * when it passes them.
 *
 * @module
 */

import type { Clock } from "../lib/server/clock.ts";

/** A {@linkcode Clock} whose time the test advances. */
export class FakeClock implements Clock {
  #now: number;
  #timers: { at: number; callback: () => void }[] = [];

  /**
   * Creates a clock.
   *
   * @param start The starting time in milliseconds.
   */
  constructor(start = 1_000_000) {
    this.#now = start;
  }

  /** The current fake time in milliseconds. */
  now = (): number => this.#now;

  /**
   * Schedules a callback at now + ms.
   *
   * @param callback What to call.
   * @param ms Milliseconds from now.
   * @returns The cancel function.
   */
  setTimer = (callback: () => void, ms: number): () => void => {
    const timer = { at: this.#now + ms, callback };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  };

  /** Timers waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward, firing every timer it passes, in order.
   *
   * @param ms Milliseconds to advance.
   */
  advance(ms: number): void {
    const end = this.#now + ms;
    while (true) {
      const due = this.#timers
        .filter((t) => t.at <= end)
        .sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.callback();
    }
    this.#now = end;
  }
}
