/**
 * Many booths, one election, end to end: real booth processes serving one
 * PostgreSQL database over real TLS, while voters race across booths, booths
 * are killed with SIGKILL, and the database itself goes away and comes back.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { connectTls } from "../lib/client/tls_client.ts";
import { ServerChannel } from "../lib/client/voter_client.ts";
import { UNAVAILABLE_MESSAGE } from "../lib/server/session.ts";
import { PROTOCOL_VERSION } from "../lib/wire/protocol.ts";
import type { ServerMessage } from "../lib/wire/protocol.ts";
import { startLocalPostgres } from "../tools/with_postgres.ts";
import { lines, runClient, startServer, testCerts } from "./helpers.ts";
import type { ServerProcess } from "./helpers.ts";
import {
  databaseFlags,
  exportInto,
  runServerOk,
  testDatabase,
} from "./postgres_helpers.ts";
import { tempDir } from "./temp_dir.ts";

/** A voter's session over TLS that closes its own connection. */
class Voter implements Disposable {
  readonly #close: () => void;
  readonly channel: ServerChannel;

  private constructor(channel: ServerChannel, close: () => void) {
    this.channel = channel;
    this.#close = close;
  }

  static async connect(port: number): Promise<Voter> {
    const ca = await Deno.readTextFile(join(await testCerts(), "ca.crt"));
    const connection = await connectTls({ host: "localhost", port, ca });
    return new Voter(new ServerChannel(connection), () => connection.close());
  }

  logIn(name: string, number: string, password: string) {
    return this.channel.request({
      type: "login",
      version: PROTOCOL_VERSION,
      name,
      number,
      password,
    });
  }

  [Symbol.dispose](): void {
    this.#close();
  }
}

const voterName = (i: number) => `voter${i}`;
const voterNumber = (i: number) => String(3_000_000 + i);
const voterPassword = (i: number) => `pw${i}`;

async function writeRoll(dir: string, count: number): Promise<string> {
  const path = join(dir, "roll");
  await Deno.writeTextFile(
    path,
    Array.from(
      { length: count },
      (_, i) => `${voterName(i)} ${voterNumber(i)} ${voterPassword(i)}\n`,
    ).join(""),
  );
  return path;
}

/** Creates an election of `count` voters in the database; returns DIR. */
async function initElectionOfVoters(
  url: string,
  dir: string,
  count: number,
): Promise<string> {
  const data = join(dir, "data");
  await runServerOk([
    "init",
    ...databaseFlags(url, data),
    "--voters",
    await writeRoll(dir, count),
  ]);
  return data;
}

function booth(data: string, url: string, extra: string[] = []) {
  return startServer(data, ["--database", url, "--quiet", ...extra]);
}

const isRecorded = (m: ServerMessage) => m.type === "ballot" && m.answer === 1;

Deno.test("50 voters racing three sessions each on three booths get exactly one recorded each", async () => {
  await using db = await testDatabase();
  const data = await initElectionOfVoters(db.url, db.dir, 50);
  const booths = await Promise.all([0, 1, 2].map(() => booth(data, db.url)));
  const voters: Voter[] = [];
  try {
    // Every session logs in and reaches the ballot first...
    const ready = await Promise.all(
      Array.from({ length: 150 }, async (_, k) => {
        const i = Math.floor(k / 3);
        const voter = await Voter.connect(booths[k % 3].port);
        voters.push(voter);
        assert.equal(
          (await voter.logIn(voterName(i), voterNumber(i), voterPassword(i)))
            .type,
          "login",
        );
        const ballot = await voter.channel.request({ type: "menu", choice: 1 });
        assert.equal(ballot.type === "vote" && ballot.answer, 1);
        return { i, voter };
      }),
    );
    // ...then all 150 ballots are released together.
    const answers = await Promise.all(
      ready.map(({ i, voter }) =>
        voter.channel.request({ type: "ballot", choice: 1 + (i % 2) })
          .then((answer) => ({ i, answer }))
      ),
    );
    for (let i = 0; i < 50; i++) {
      const mine = answers.filter((a) => a.i === i).map((a) => a.answer);
      assert.equal(mine.filter(isRecorded).length, 1, voterName(i));
      assert.equal(
        mine.filter((a) =>
          a.type === "ballot" && a.answer === 0 &&
          a.reason === "already-voted"
        ).length,
        2,
      );
    }
    const [{ voted }] = await db
      .sql`SELECT count(*)::int AS voted FROM booth.history`;
    const [{ total }] = await db
      .sql`SELECT sum(votes)::int AS total FROM booth.tally`;
    assert.deepEqual([voted, total], [50, 50]);
  } finally {
    for (const voter of voters) voter[Symbol.dispose]();
    await Promise.all(booths.map((b) => b.stop()));
  }
});

Deno.test("a booth killed with SIGKILL ten times under continuous voting on three booths loses no acknowledged vote and doubles none; the others keep serving", async () => {
  await using db = await testDatabase();
  // More voters than the rounds can use: voting goes on until the last
  // round, and no voter is left without a vote at the end.
  const VOTERS = 5000;
  const ROUNDS = 10;
  const data = await initElectionOfVoters(db.url, db.dir, VOTERS);
  const booths: ServerProcess[] = await Promise.all(
    [0, 1, 2].map(() => booth(data, db.url)),
  );
  // A booth's generation changes when it is killed: a session that fails on
  // a booth whose generation has not changed failed on a live booth.
  const generation = [0, 0, 0];
  const restarted = [0, 1, 2].map(() => Promise.withResolvers<void>());
  const alive = [true, true, true];
  const acknowledged = new Set<number>();
  const answerLost = new Set<number>();
  const failuresOnLiveBooths: string[] = [];
  let rounds = 0;
  let ackedSinceKill = 0;
  let next = 0;
  let voting = true;
  let acked = Promise.withResolvers<void>();

  /** One voter's try on booth `b`; false when the booth died under it. */
  const vote = async (b: number, i: number): Promise<boolean> => {
    while (!alive[b]) await restarted[b].promise;
    const gen = generation[b];
    let voter: Voter | undefined;
    try {
      voter = await Voter.connect(booths[b].port);
      const login = await voter.logIn(
        voterName(i),
        voterNumber(i),
        voterPassword(i),
      );
      assert.equal(login.type === "login" && login.answer, 1);
      const menu = await voter.channel.request({ type: "menu", choice: 1 });
      if (menu.type === "vote" && menu.answer === 0) {
        // Their earlier ballot was recorded although its answer was lost
        // with its booth: `you have already voted`, and the history shows it.
        const history = await voter.channel.request({
          type: "menu",
          choice: 3,
        });
        assert.ok(history.type === "history" && history.answer === 1);
        assert.ok(answerLost.has(i), `${voterName(i)} voted unasked`);
        return true;
      }
      const answer = await voter.channel.request({
        type: "ballot",
        choice: 1 + (i % 2),
      });
      assert.ok(isRecorded(answer), JSON.stringify(answer));
      acknowledged.add(i);
      ackedSinceKill++;
      acked.resolve();
      return true;
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      if (generation[b] === gen) {
        failuresOnLiveBooths.push(`booth ${b}: ${(error as Error).message}`);
        return true;
      }
      // The booth was killed under this voter, who tries again once it is
      // back: their vote is either recorded or not.
      answerLost.add(i);
      await restarted[b].promise;
      return false;
    } finally {
      voter?.[Symbol.dispose]();
    }
  };
  const worker = async (b: number) => {
    while (voting && next < VOTERS) {
      const i = next++;
      while (!await vote(b, i));
    }
    voting = false;
    acked.resolve();
  };

  const killer = async () => {
    for (; rounds < ROUNDS && voting; rounds++) {
      // Event-driven: the next kill comes once 15 more votes are
      // acknowledged, however long that takes on this machine.
      while (ackedSinceKill < 15 && voting) {
        await acked.promise;
        acked = Promise.withResolvers<void>();
      }
      ackedSinceKill = 0;
      const b = rounds % 3;
      generation[b]++;
      alive[b] = false;
      restarted[b] = Promise.withResolvers<void>();
      await booths[b].kill();
      booths[b] = await booth(data, db.url);
      alive[b] = true;
      restarted[b].resolve();
    }
    voting = false;
  };

  try {
    await Promise.all([
      killer(),
      ...[0, 1, 2].flatMap((b) => [worker(b), worker(b)]),
    ]);
    assert.equal(rounds, ROUNDS);
    assert.deepEqual(failuresOnLiveBooths, []);
    const out = join(db.dir, "out");
    await exportInto(db.flags(data), out);
    const history = lines(await Deno.readTextFile(join(out, "history")))
      .map((line) => line.split(" ")[0]);
    const result = lines(await Deno.readTextFile(join(out, "result")))
      .map((line) => Number(line.split(" ")[1]));
    const lost = [...acknowledged].filter((i) =>
      !history.includes(voterName(i))
    );
    const doubled = history.length - new Set(history).size;
    console.log(
      `kill rounds: ${rounds}; votes acknowledged ${acknowledged.size}, answers lost with a booth ${answerLost.size}, acknowledged but lost ${lost.length}, doubled ${doubled}, history ${history.length}, totals ${
        result.join("+")
      }`,
    );
    assert.equal(lost.length, 0);
    assert.equal(doubled, 0);
    assert.equal(history.length, next);
    assert.equal(result.reduce((a, b) => a + b, 0), history.length);
    const verified = await runServerOk(["verify", "--data", out]);
    assert.deepEqual(lines(verified.stdout), [
      `turnout ${next}/${VOTERS}`,
      "consistent",
    ]);
  } finally {
    await Promise.all(booths.map((b) => b.stop()));
  }
});

Deno.test("PostgreSQL stopped during voting: the vote gets the storage answer, a login one line, no booth exits, and every booth serves again within 10 s", async () => {
  // This test stops its database server, so it runs one of its own.
  await using pg = await startLocalPostgres();
  await using dir = await tempDir("booth-pg-");
  const data = await initElectionOfVoters(pg.url, dir.path, 20);
  const booths = await Promise.all(
    [0, 1].map(() => booth(data, pg.url, ["--lockout-threshold", "2"])),
  );
  try {
    // Voter 0 votes before the outage; voter 1 reaches the ballot.
    {
      using voter = await Voter.connect(booths[0].port);
      await voter.logIn(voterName(0), voterNumber(0), voterPassword(0));
      await voter.channel.request({ type: "menu", choice: 1 });
      assert.ok(
        isRecorded(await voter.channel.request({ type: "ballot", choice: 1 })),
      );
    }
    using waiting = await Voter.connect(booths[1].port);
    await waiting.logIn(voterName(1), voterNumber(1), voterPassword(1));
    const ballot = await waiting.channel.request({ type: "menu", choice: 1 });
    assert.equal(ballot.type === "vote" && ballot.answer, 1);

    await pg.crash();

    assert.deepEqual(
      await waiting.channel.request({ type: "ballot", choice: 2 }),
      { type: "ballot", answer: 0, reason: "storage" },
    );
    // The real client shows one line for a login that cannot be checked,
    // and wrong passwords beyond the lockout threshold lock nobody.
    for (let attempt = 0; attempt < 3; attempt++) {
      using voter = await Voter.connect(booths[attempt % 2].port);
      assert.deepEqual(
        await voter.logIn(voterName(2), voterNumber(2), "wrong"),
        { type: "error", code: "unavailable", message: UNAVAILABLE_MESSAGE },
      );
    }
    const client = await runClient(booths[0].port, [
      voterName(2),
      voterNumber(2),
      voterPassword(2),
    ]);
    assert.equal(client.code, 1);
    assert.deepEqual(
      lines(client.stderr),
      [UNAVAILABLE_MESSAGE],
    );

    await pg.restart();
    const back = Date.now();
    // Every booth serves again: poll each with a real login until it works.
    const servedAfter = await Promise.all(booths.map(async (b, k) => {
      while (true) {
        using voter = await Voter.connect(b.port);
        const login = await voter.logIn(
          voterName(2 + k),
          voterNumber(2 + k),
          voterPassword(2 + k),
        );
        if (login.type === "login" && login.answer === 1) {
          return Date.now() - back;
        }
        assert.ok(Date.now() - back < 10_000, JSON.stringify(login));
        await new Promise((r) => setTimeout(r, 100));
      }
    }));
    console.log(`booths serving again after ${servedAfter.join(" and ")} ms`);
    for (const b of booths) {
      assert.equal(
        await Promise.race([b.child.status.then(() => "exited"), "running"]),
        "running",
      );
    }
    // Nothing half-written: the refused ballot left no trace, and voter 1
    // votes now.
    using again = await Voter.connect(booths[1].port);
    await again.logIn(voterName(1), voterNumber(1), voterPassword(1));
    assert.equal(
      (await again.channel.request({ type: "menu", choice: 1 })).type,
      "vote",
    );
    assert.ok(
      isRecorded(await again.channel.request({ type: "ballot", choice: 2 })),
    );
    const verified = await runServerOk([
      "verify",
      ...databaseFlags(pg.url, data),
    ]);
    assert.deepEqual(lines(verified.stdout), ["turnout 2/20", "consistent"]);
  } finally {
    await Promise.all(booths.map((b) => b.stop()));
  }
});
