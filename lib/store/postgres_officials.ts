/**
 * The election official's commands on a database election: a voter's new
 * password (`server passwd --database`), the closing of the polls (`server
 * close --database`) and the report (`server report --database`). The rules
 * are the file store's (`officials.ts`, `report.ts`); only the reading and
 * writing differ.
 *
 * @module
 */

import { sealPassword } from "../election/crypto.ts";
import { pollsStateAt } from "../election/polls.ts";
import type { PollsWindow } from "../election/polls.ts";
import { UnknownVoterError } from "./officials.ts";
import type { ChangePasswordOptions, PollsKeeper } from "./officials.ts";
import { sha256OfText, summariseElection } from "./report.ts";
import type { ElectionReportSummary } from "./report.ts";
import { withRetries } from "./postgres_connection.ts";
import type { Sql } from "./postgres_connection.ts";
import {
  electionFiles,
  NoDatabaseElectionError,
  pollsOf,
  readDatabaseElection,
} from "./postgres_election.ts";

/**
 * The polls window of a database election, for {@linkcode closePolls}, on
 * the database's clock (the one every vote is judged by).
 * Every vote reads `booth.election` with a share lock in its own statement
 * (`PostgresStore.recordBallot`), so the update that sets the closing time
 * waits for every vote in flight to commit: once it has returned, every
 * vote judged by the old window is in `history`, and every later one is
 * judged by the new.
 *
 * @param sql A pool on the election's database.
 * @param redacted The database URL without password, for messages.
 * @returns The keeper.
 */
export function databasePollsKeeper(sql: Sql, redacted: string): PollsKeeper {
  return {
    where: `the database "${redacted}"`,
    async read() {
      const rows = await withRetries(() =>
        sql`SELECT opens_at, closes_at FROM booth.election`
      ).catch((error) => {
        throw noElection(error, redacted);
      });
      if (rows.length === 0) throw new NoDatabaseElectionError(redacted);
      return pollsOf(rows[0]);
    },
    async write(window: PollsWindow) {
      await withRetries(() =>
        sql`UPDATE booth.election SET opens_at = ${window.opensAt ?? null},
              closes_at = ${window.closesAt ?? null}`
      );
    },
    settle: () => waitForVotesInFlight(sql),
    async now() {
      const [{ now }] = await withRetries(() => sql`SELECT now()`);
      return new Date(now).getTime();
    },
    async lastVoteTime() {
      const [{ last }] = await withRetries(() =>
        sql`SELECT max(time) AS last FROM booth.history`
      );
      return last === null ? undefined : Date.parse(last);
    },
  };
}

/**
 * `server passwd --database`: replaces one voter's sealed password. Booths
 * read a voter's entry at each login, so this works while they serve: the
 * old password stops working at once.
 *
 * @param sql A pool on the election's database.
 * @param key K, from `DIR/symkey`.
 * @param name The voter's name, exactly as in the roll.
 * @param password The new password in clear.
 * @param redacted The database URL without password, for messages.
 * @param options `deliver` hands the new password to the official once the
 * voter is found and before it replaces the old one; if it throws, nothing
 * changes.
 * @returns The voter whose password changed.
 * @throws {NoDatabaseElectionError} When the database holds no election.
 * @throws {UnknownVoterError} When no voter has that name.
 * @throws {Error} What `deliver` throws (nothing changed then).
 */
export async function changeDatabaseVoterPassword(
  sql: Sql,
  key: Uint8Array,
  name: string,
  password: string,
  redacted: string,
  options: Pick<ChangePasswordOptions, "deliver"> = {},
): Promise<{ name: string; number: string }> {
  const rows = await withRetries(() =>
    sql`SELECT number FROM booth.voters WHERE name = ${name}`
  ).catch((error) => {
    throw noElection(error, redacted);
  });
  if (rows.length === 0) {
    throw new UnknownVoterError(name, `booth.voters of ${redacted}`);
  }
  const voter = { name, number: rows[0].number as string };
  const sealed = sealPassword(key, voter, password);
  await options.deliver?.(voter);
  await withRetries(() =>
    sql`UPDATE booth.voters SET sealed = ${sealed} WHERE name = ${name}`
  );
  return voter;
}

/**
 * `server report --database`: the same summary as the file store's, from one
 * snapshot of the database (once the polls are closed, taken after every
 * vote in flight has committed, so the totals are final), with the SHA-256 of the files `export` would
 * write (byte for byte the file store's formats).
 *
 * @param sql A pool on the election's database.
 * @param redacted The database URL without password, for messages.
 * @param now The moment the report describes.
 * @returns The summary.
 * @throws {NoDatabaseElectionError} When the database holds no election.
 */
export async function reportDatabaseElection(
  sql: Sql,
  redacted: string,
  now: Date,
): Promise<ElectionReportSummary> {
  // Closed or not on the database's clock, which the votes are judged by.
  const [row] = await withRetries(() =>
    sql`SELECT opens_at, closes_at, now() AS at FROM booth.election`
  ).catch((error) => {
    throw noElection(error, redacted);
  });
  if (
    row !== undefined &&
    pollsStateAt(pollsOf(row), new Date(row.at)) === "closed"
  ) {
    await waitForVotesInFlight(sql);
  }
  const snapshot = await readDatabaseElection(sql, redacted);
  const files = electionFiles(snapshot);
  return summariseElection({
    now,
    polls: snapshot.polls,
    candidates: snapshot.candidates,
    totals: snapshot.totals,
    registered: snapshot.voters.length,
    voted: snapshot.history.length,
    sha256: {
      candidates: sha256OfText(files.candidates),
      passwords: sha256OfText(files.passwords),
      result: sha256OfText(files.result),
      // The file store has no `history` before the first vote.
      history: snapshot.history.length === 0
        ? null
        : sha256OfText(files.history),
    },
  });
}

/**
 * Waits until every vote holding `booth.election`'s share lock (a vote that
 * read the polls window and has not committed yet) has committed: an
 * exclusive row lock cannot be taken before.
 */
async function waitForVotesInFlight(sql: Sql): Promise<void> {
  await withRetries(() =>
    sql.begin((tx) => tx`SELECT 1 FROM booth.election FOR UPDATE`)
  );
}

/** An undefined table (SQLSTATE 42P01) means no election in the database. */
function noElection(error: unknown, redacted: string): unknown {
  return (error as { code?: unknown })?.code === "42P01"
    ? new NoDatabaseElectionError(redacted)
    : error;
}
