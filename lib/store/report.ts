/**
 * `server report`: the election as an official publishes it. What the
 * report may show is decided by the booth's rules (no totals while the polls
 * are open and not everyone has voted), and each file it summarises is named
 * with its SHA-256, so a printed report can later be checked against the
 * files.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { winnersOf } from "../election/booth.ts";
import { formatTime, neverOpens, pollsStateAt } from "../election/polls.ts";
import { denoFileOps, lstatOrUndefined, refuseUnsafeFile } from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";
import {
  ElectionInconsistentError,
  electionPaths,
  refuseMovedElection,
} from "./election_dir.ts";
import { inspectElection } from "./election_state.ts";
import { waitForCommitsSettled } from "./commits_settled.ts";
import { readPollsFile } from "./polls_file.ts";
import type { PollsWindow } from "../election/polls.ts";

/**
 * The election's state in a report. `never-opens`: closed at or before its
 * opening, before that closing (from the closing on it is `closed`, with
 * {@linkcode ElectionReportSummary.neverOpens}).
 */
export type ElectionStage =
  | "not-open"
  | "never-opens"
  | "open"
  | "closed"
  | "everyone-voted";

/** One candidate's line in a report. */
export interface CandidateResult {
  /** The candidate's name. */
  name: string;
  /** Votes received. */
  votes: number;
  /** Share of the votes cast, in percent, to one decimal. */
  percent: number;
}

/** What `server report` prints, and `--json` gives as is. */
export interface ElectionReportSummary {
  /** The moment the report describes, ISO 8601 UTC. */
  reportedAt: string;
  /** Where the election stands. */
  state: ElectionStage;
  /**
   * The opening time, ISO 8601 UTC, when one is set and the polls open at
   * it (absent when they never open).
   */
  opensAt?: string;
  /** The closing time, ISO 8601 UTC, when one is set. */
  closesAt?: string;
  /**
   * Present, and true, when the election was closed at or before its
   * opening: the polls never open (nor opened), and the result, turnout 0,
   * shows from the closing on.
   */
  neverOpens?: true;
  /** Registered voters. */
  registered: number;
  /** Votes cast. */
  voted: number;
  /** Turnout in percent, to one decimal. */
  turnoutPercent: number;
  /**
   * The result, only once it is available (the polls closed, or everyone
   * voted): never running totals.
   */
  result?: {
    /** The candidates with the most votes, in ballot order. */
    winners: string[];
    /** Every candidate in ballot order. */
    candidates: CandidateResult[];
  };
  /**
   * SHA-256 (hex) of each file as read; null when the file does not exist
   * (no `history` before the first vote) or, for `result`, while the
   * result is not available: with few voters the totals behind a hash can
   * be found by trying them all.
   */
  sha256: {
    candidates: string | null;
    passwords: string | null;
    result: string | null;
    history: string | null;
  };
}

/** How often a report re-reads files a commit was changing meanwhile. */
const READ_ATTEMPTS = 5;

/**
 * Reads an election without changing it, a running server or not, and
 * summarises it for publication. Once the polls are closed it first waits
 * until the running server has no commit in flight, so the totals it shows
 * are final.
 *
 * @param dir The election directory.
 * @param now The moment the report describes.
 * @returns The summary.
 * @throws {NoElectionError} When the directory holds no election.
 * @throws {ElectionMovedError} When it was moved into a database.
 * @throws {ElectionFileError} When a file is missing or malformed.
 * @throws {ElectionInconsistentError} When the files disagree (run `server
 * verify` to see every problem).
 * @throws {CommitInFlightError} When the polls are closed and the running
 * server's last commit does not end within a minute.
 */
export async function reportElection(
  dir: string,
  now: Date,
): Promise<ElectionReportSummary> {
  const paths = electionPaths(dir);
  await refuseMovedElection(paths);
  for (let attempt = 1;; attempt++) {
    // `polls` first: once it says closed, a commit still deciding on an older
    // `polls` holds the journal, so waiting for a blank journal after it
    // makes the totals read below final (lib/store/commits_settled.ts).
    const polls = await readPollsFile(paths.polls);
    const pollsNow = pollsStateAt(polls, now);
    if (pollsNow === "closed") await waitForCommitsSettled(paths);
    const hashes = new Map<string, string>();
    const inspected = await inspectElection(dir, hashingOps(hashes));
    if (inspected.problems.length > 0) {
      // A running server may have been between two writes of one commit;
      // read again before calling the files inconsistent.
      if (attempt < READ_ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
        continue;
      }
      throw new ElectionInconsistentError(inspected.problems);
    }
    const hash = (path: string) => hashes.get(path) ?? null;
    return summariseElection({
      now,
      polls,
      candidates: inspected.state.candidates,
      totals: inspected.state.totals,
      registered: inspected.state.voters.length,
      voted: inspected.state.history.length,
      sha256: {
        candidates: hash(paths.candidates),
        passwords: hash(paths.passwords),
        result: hash(paths.result),
        history: hash(paths.history),
      },
    });
  }
}

/** What a report is made from, read from files or a database. */
export interface ReportInput {
  /** The moment the report describes. */
  now: Date;
  /** When the polls open and close. */
  polls: PollsWindow;
  /** The candidates in ballot order. */
  candidates: readonly string[];
  /** Votes per candidate, index-aligned with `candidates`. */
  totals: readonly number[];
  /** Registered voters. */
  registered: number;
  /** Votes cast. */
  voted: number;
  /** SHA-256 (hex) of each file's bytes; null for a file that is absent. */
  sha256: ElectionReportSummary["sha256"];
}

/**
 * The report of an election as read: the booth's rules decide what it may
 * show (no totals, and no hash of `result`, while the polls are open and
 * not everyone has voted).
 *
 * @param input The election as read, with its files' hashes.
 * @returns The summary.
 */
export function summariseElection(input: ReportInput): ElectionReportSummary {
  const { now, polls, registered, voted } = input;
  const pollsNow = pollsStateAt(polls, now);
  const everyone = voted === registered;
  const available = everyone || pollsNow === "closed";
  // A closing at or before the opening moved the opening to it: that is
  // no opening to show, and "not yet open" would promise one.
  const never = neverOpens(polls);
  const summary: ElectionReportSummary = {
    reportedAt: formatTime(now),
    state: never
      ? (pollsNow === "closed" ? "closed" : "never-opens")
      : everyone
      ? "everyone-voted"
      : pollsNow,
    ...(polls.opensAt && !never ? { opensAt: formatTime(polls.opensAt) } : {}),
    ...(polls.closesAt ? { closesAt: formatTime(polls.closesAt) } : {}),
    ...(never ? { neverOpens: true as const } : {}),
    registered,
    voted,
    turnoutPercent: percent(voted, registered),
    sha256: {
      ...input.sha256,
      result: available ? input.sha256.result : null,
    },
  };
  if (available) {
    const totals = input.candidates.map((candidate, i) => ({
      candidate,
      votes: input.totals[i],
    }));
    summary.result = {
      winners: winnersOf(totals),
      candidates: totals.map(({ candidate, votes }) => ({
        name: candidate,
        votes,
        percent: percent(votes, voted),
      })),
    };
  }
  return summary;
}

/**
 * SHA-256 of a file's bytes as text (UTF-8), in hex: what `sha256sum`
 * prints for the file.
 *
 * @param text The file's text.
 * @returns The hex digest.
 */
export function sha256OfText(text: string): string {
  return createHash("sha256").update(new TextEncoder().encode(text)).digest(
    "hex",
  );
}

/** Width of a full bar in the printed report, in characters. */
const BAR_CHARS = 30;

/**
 * The report for people: one fact per line.
 *
 * @param summary The summary from {@linkcode reportElection}.
 * @param winnerLine Formats the winner or tie line as the client prints it.
 * @returns The lines.
 */
export function formatReport(
  summary: ElectionReportSummary,
  winnerLine: (winners: readonly string[]) => string,
): string[] {
  const lines: string[] = [];
  const stage = summary.neverOpens
    ? (summary.state === "closed"
      ? "closed before opening (the polls never opened)"
      : "never opens (closed before opening)")
    : {
      "not-open": "not yet open",
      "never-opens": "never opens",
      open: "open",
      closed: "closed",
      "everyone-voted": "everyone voted",
    }[summary.state];
  lines.push(`State: ${stage}`);
  const closed = summary.closesAt !== undefined &&
    new Date(summary.closesAt) <= new Date(summary.reportedAt);
  if (summary.opensAt) {
    lines.push(
      `${
        summary.state === "not-open" ? "Opens" : "Opened"
      } at: ${summary.opensAt}`,
    );
  }
  if (summary.closesAt) {
    lines.push(`${closed ? "Closed" : "Closes"} at: ${summary.closesAt}`);
  }
  lines.push(
    `Turnout: ${summary.voted}/${summary.registered} (${
      summary.turnoutPercent.toFixed(1)
    }%)`,
  );
  if (summary.result) {
    const { candidates, winners } = summary.result;
    const nameWidth = Math.max(...candidates.map((c) => c.name.length));
    const votesWidth = Math.max(
      ...candidates.map((c) => String(c.votes).length),
    );
    lines.push("");
    for (const c of candidates) {
      const bar = "#".repeat(Math.round((c.percent / 100) * BAR_CHARS));
      lines.push(
        `${c.name.padEnd(nameWidth)}  ${
          String(c.votes).padStart(votesWidth)
        }  ${c.percent.toFixed(1).padStart(5)}%  ${bar}`.trimEnd(),
      );
    }
    lines.push("", winnerLine(winners));
  } else {
    lines.push("", "The result is not available");
  }
  lines.push("", "SHA-256 of the election's files:");
  for (const [file, hash] of Object.entries(summary.sha256)) {
    const shown = hash ??
      (file === "result"
        ? "(withheld until the result is available)"
        : "(no file)");
    lines.push(`  ${file.padEnd(10)} ${shown}`);
  }
  return lines;
}

function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10;
}

/** File operations that also record the SHA-256 of every file read. */
function hashingOps(hashes: Map<string, string>): FileOps {
  const ops = denoFileOps();
  const decoder = new TextDecoder();
  return {
    ...ops,
    async readText(path) {
      refuseUnsafeFile(path, lstatOrUndefined(path));
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      }
      hashes.set(path, createHash("sha256").update(bytes).digest("hex"));
      return decoder.decode(bytes);
    },
  };
}
