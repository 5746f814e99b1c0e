/**
 * When the polls are open, and the `polls` file that says so. Pure functions
 * over times and text: the clock is always a parameter, and the store does
 * the file I/O.
 *
 * The `polls` file holds up to two lines, each optional:
 *
 * ```
 * opens-at 2026-11-26T08:00:00+01:00
 * closes-at 2026-11-26T20:00:00+01:00
 * ```
 *
 * No file, or no line, means no limit on that side: the seed's election is
 * open from `init` on and never closes.
 *
 * @module
 */

import { ElectionFileError, numberedLines } from "./election_files.ts";

/** When voting starts and ends; either may be unset. */
export interface PollsWindow {
  /** The first moment a vote counts. */
  opensAt?: Date;
  /** The first moment a vote no longer counts. */
  closesAt?: Date;
}

/** The polls at one moment. */
export type PollsState = "not-open" | "open" | "closed";

/** ISO 8601 date and time with an explicit offset (`Z` or `±hh:mm`). */
const TIME_WITH_OFFSET =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Reads a time given on the command line or in `polls`: ISO 8601 with an
 * offset, so a time means the same on every machine.
 *
 * @example
 * ```ts
 * parseTimeWithOffset("2026-11-26T20:00+01:00"); // 2026-11-26T19:00:00.000Z
 * parseTimeWithOffset("2026-11-26T20:00"); // undefined: no offset
 * ```
 *
 * @param text The time.
 * @returns The moment, or undefined when `text` is not such a time.
 */
export function parseTimeWithOffset(text: string): Date | undefined {
  const match = text.match(TIME_WITH_OFFSET);
  if (!match) return undefined;
  const [, year, month, day, hour, minute] = match.map(Number);
  const time = new Date(text);
  // `new Date` rolls 2026-02-30 over to March: check the fields round-trip.
  const offset = match[8] === "Z" ? 0 : (match[8][0] === "-" ? -1 : 1) *
    (Number(match[8].slice(1, 3)) * 60 + Number(match[8].slice(-2)));
  const local = new Date(time.getTime() + offset * 60_000);
  if (
    Number.isNaN(time.getTime()) || local.getUTCFullYear() !== year ||
    local.getUTCMonth() + 1 !== month || local.getUTCDate() !== day ||
    local.getUTCHours() !== hour || local.getUTCMinutes() !== minute
  ) {
    return undefined;
  }
  return time;
}

/**
 * A moment as `polls` and the report write it: UTC, to the millisecond only
 * when it has milliseconds.
 *
 * @param time The moment.
 * @returns e.g. `2026-11-26T19:00:00Z`.
 */
export function formatTime(time: Date): string {
  return time.toISOString().replace(/\.000Z$/, "Z");
}

/**
 * The polls at `now`: open from `opensAt` (inclusive) until `closesAt`
 * (exclusive).
 *
 * @example
 * ```ts
 * const window = { closesAt: new Date("2026-11-26T19:00:00Z") };
 * pollsStateAt(window, new Date("2026-11-26T18:59:59Z")); // "open"
 * pollsStateAt(window, new Date("2026-11-26T19:00:00Z")); // "closed"
 * ```
 *
 * @param window The opening and closing times.
 * @param now The moment asked about.
 * @returns `not-open`, `open` or `closed`.
 */
export function pollsStateAt(window: PollsWindow, now: Date): PollsState {
  if (window.closesAt !== undefined && now >= window.closesAt) return "closed";
  if (window.opensAt !== undefined && now < window.opensAt) return "not-open";
  return "open";
}

/**
 * Whether the polls of this window never open: an election closed at or
 * before its opening ({@linkcode closedWindow}), whose opening moved to its
 * closing. Its opening time is no opening: say "never opens", not "opens at".
 *
 * @example
 * ```ts
 * const at = new Date("2026-11-26T12:00:00Z");
 * neverOpens({ opensAt: at, closesAt: at }); // true
 * neverOpens({ closesAt: at }); // false
 * ```
 *
 * @param window The opening and closing times.
 * @returns True when both are set and the closing is not after the opening.
 */
export function neverOpens(window: PollsWindow): boolean {
  return window.opensAt !== undefined && window.closesAt !== undefined &&
    window.closesAt <= window.opensAt;
}

/**
 * The next whole second at or after `ms`: `close` without `--at` closes the
 * polls then, so that `polls` and the report keep whole seconds like every
 * other time.
 *
 * @example
 * ```ts
 * nextWholeSecond(Date.parse("2026-11-26T17:41:22.698Z")); // 17:41:23Z
 * nextWholeSecond(Date.parse("2026-11-26T17:41:22Z")); // 17:41:22Z
 * ```
 *
 * @param ms Milliseconds since the epoch.
 * @returns The moment.
 */
export function nextWholeSecond(ms: number): Date {
  return new Date(Math.ceil(ms / 1000) * 1000);
}

/**
 * Why a window cannot be used, or undefined when it can: the polls must
 * open before they close.
 *
 * @param window The opening and closing times.
 * @returns What is wrong, as a sentence.
 */
export function windowProblem(window: PollsWindow): string | undefined {
  // Equal times are the window of an election closed before it opened
  // (`closedWindow`): the polls never open.
  if (
    window.opensAt !== undefined && window.closesAt !== undefined &&
    window.closesAt < window.opensAt
  ) {
    return `the closing time "${
      formatTime(window.closesAt)
    }" is not after the opening time "${formatTime(window.opensAt)}"`;
  }
  return undefined;
}

/**
 * What is wrong with the window a new election is created with: what
 * {@linkcode windowProblem} finds, or a closing time already past (an
 * election closed before its first vote, most likely a typo in the date).
 *
 * @example
 * ```ts
 * const problem = newWindowProblem(
 *   { closesAt: new Date("2020-01-01T00:00:00Z") },
 *   new Date("2026-11-26T12:00:00Z"),
 * ); // 'the closing time "2020-01-01T00:00:00Z" is in the past'
 * ```
 *
 * @param window The opening and closing times asked for.
 * @param now The current time.
 * @returns What is wrong, as a sentence, or undefined.
 */
export function newWindowProblem(
  window: PollsWindow,
  now: Date,
): string | undefined {
  if (window.closesAt !== undefined && window.closesAt <= now) {
    return `the closing time "${formatTime(window.closesAt)}" is in the past`;
  }
  if (
    window.opensAt !== undefined && window.closesAt !== undefined &&
    window.closesAt.getTime() === window.opensAt.getTime()
  ) {
    return `the closing time "${
      formatTime(window.closesAt)
    }" is not after the opening time "${formatTime(window.opensAt)}"`;
  }
  return windowProblem(window);
}

/**
 * The window once the polls close at `closesAt`. A closing at or before
 * the opening moves the opening to it too: the polls never open (the
 * official closed an election whose opening was wrong or is called off),
 * and the result, every total 0, shows from the closing on.
 *
 * @example
 * ```ts
 * const window = closedWindow(
 *   { opensAt: new Date("2026-11-27T08:00:00Z") },
 *   new Date("2026-11-26T12:00:00Z"),
 * ); // opens and closes at 2026-11-26T12:00:00Z: never open
 * ```
 *
 * @param window The current window.
 * @param closesAt The new closing time.
 * @returns The window in force after the closing.
 */
export function closedWindow(
  window: PollsWindow,
  closesAt: Date,
): PollsWindow & { closesAt: Date } {
  if (window.opensAt !== undefined && closesAt <= window.opensAt) {
    return { opensAt: closesAt, closesAt };
  }
  return { ...window, closesAt };
}

/**
 * Whether moving the closing time to `closesAt` at `now` is allowed: only
 * while the polls have not closed, and never into the past, where votes
 * already recorded would fall after the closing.
 *
 * @param window The current window.
 * @param closesAt The new closing time.
 * @param now The current time.
 * @returns What forbids it, as a sentence, or undefined.
 */
export function closingProblem(
  window: PollsWindow,
  closesAt: Date,
  now: Date,
): string | undefined {
  if (pollsStateAt(window, now) === "closed") {
    return `the polls closed already, at "${formatTime(window.closesAt!)}"`;
  }
  if (closesAt < now) {
    return `the time "${
      formatTime(closesAt)
    }" is in the past (votes may have been recorded since); give a later time or none for now`;
  }
  return windowProblem(closedWindow(window, closesAt));
}

/**
 * Reads `polls`.
 *
 * @param text The file's text.
 * @param path The file's path, for error messages.
 * @returns The window.
 * @throws {ElectionFileError} On a malformed or repeated line, or a closing
 * not after the opening.
 */
export function parsePolls(text: string, path: string): PollsWindow {
  const fail = (detail: string, line?: number) =>
    new ElectionFileError("polls file", path, detail, line);
  const window: PollsWindow = {};
  for (const [line, content] of numberedLines(text)) {
    const [field, value, ...rest] = content.split(" ");
    const time = value === undefined ? undefined : parseTimeWithOffset(value);
    const key = field === "opens-at"
      ? "opensAt"
      : field === "closes-at"
      ? "closesAt"
      : undefined;
    if (key === undefined || time === undefined || rest.length > 0) {
      throw fail(
        `line ${line} is not "opens-at <time>" or "closes-at <time>" (ISO 8601 with an offset)`,
        line,
      );
    }
    if (window[key] !== undefined) {
      throw fail(`line ${line} repeats "${field}"`, line);
    }
    window[key] = time;
  }
  const problem = windowProblem(window);
  if (problem !== undefined) throw fail(problem);
  return window;
}

/**
 * Writes `polls`.
 *
 * @param window The window.
 * @returns The file's text; empty when neither time is set.
 */
export function formatPolls(window: PollsWindow): string {
  return (window.opensAt ? `opens-at ${formatTime(window.opensAt)}\n` : "") +
    (window.closesAt ? `closes-at ${formatTime(window.closesAt)}\n` : "");
}

/**
 * Checks `history` against the window: no vote before the opening or at or
 * after the closing. History times are cut to the second, so a vote counts
 * as before the opening only when its second ends before it.
 *
 * @param window The window.
 * @param history The recorded votes' times and lines.
 * @param historyPath The history file's path, for messages.
 * @returns One line per vote outside the window.
 */
export function auditWindow(
  window: PollsWindow,
  history: readonly { name: string; time: string; line: number }[],
  historyPath: string,
): string[] {
  const problems: string[] = [];
  for (const entry of history) {
    const time = new Date(entry.time);
    const secondEnds = time.getTime() - time.getUTCMilliseconds() + 1000;
    if (
      window.opensAt !== undefined && secondEnds <= window.opensAt.getTime()
    ) {
      problems.push(
        `History file "${historyPath}": line ${entry.line} records a vote before the polls opened`,
      );
    }
    if (window.closesAt !== undefined && time >= window.closesAt) {
      problems.push(
        `History file "${historyPath}": line ${entry.line} records a vote after the polls closed`,
      );
    }
  }
  return problems;
}
