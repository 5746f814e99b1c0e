/**
 * Votes are never lost and never doubled, with the real server process:
 * racing sessions, SIGKILL at random moments, a full disk, damaged files.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ALICE,
  connectVoter,
  initElection,
  lines,
  logIn,
  MENU,
  occurs,
  runClient,
  runProgram,
  startServer,
  type TestVoter,
} from "./helpers.ts";
import { refusedServe } from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

Deno.test("three sessions of one voter (the most it may hold) reach the ballot, choose at once: exactly one vote", async () => {
  const data = await initElection();
  await using server = await startServer(data);
  const sessions: TestVoter[] = [];
  try {
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        const channel = await connectVoter(server.port);
        sessions.push(channel);
        assert.equal((await logIn(channel, ALICE)).type, "login");
        const ballot = await channel.request({ type: "menu", choice: 1 });
        assert.deepEqual(ballot, {
          type: "vote",
          answer: 1,
          candidates: ["Chris", "Linda"],
        });
      }),
    );
    const answers = await Promise.all(
      sessions.map((channel, i) =>
        channel.request({ type: "ballot", choice: 1 + (i % 2) })
      ),
    );
    const recorded = answers.filter((a) =>
      a.type === "ballot" && a.answer === 1
    );
    const refused = answers.filter((a) =>
      a.type === "ballot" && a.answer === 0 && a.reason === "already-voted"
    );
    assert.equal(recorded.length, 1);
    assert.equal(refused.length, 2);
    const result = lines(await Deno.readTextFile(join(data, "result")));
    assert.equal(result.reduce((n, l) => n + Number(l.split(" ")[1]), 0), 1);
    assert.equal(
      lines(await Deno.readTextFile(join(data, "history"))).length,
      1,
    );
  } finally {
    for (const channel of sessions) channel.close();
  }
});

Deno.test("kill -9 amid commits: no acknowledged vote lost, nobody counted twice", async () => {
  await using roll = await tempDir("booth-roll-");
  const voterCount = 240;
  const candidates = ["Ada", "Bo", "Cy"];
  const rollPath = join(roll.path, "roll.txt");
  await Deno.writeTextFile(
    rollPath,
    Array.from({ length: voterCount }, (_, i) => `V${i} ${5000 + i} pw${i}`)
      .join("\n"),
  );
  const data = await initElection([
    "--voters",
    rollPath,
    "--candidates",
    candidates.join(","),
  ]);
  const voter = (i: number) => [`V${i}`, `${5000 + i}`, `pw${i}`];
  // Each voter always picks the same candidate, so the final totals are known.
  const choiceOf = (i: number) => 1 + (i % candidates.length);
  const acknowledged = new Set<number>();
  // Voters not yet known to have voted; a voter whose ballot met a kill goes
  // back, and a later round learns whether it was recorded.
  const waiting = Array.from({ length: voterCount }, (_, i) => i);
  let seed = 20261126;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const workerCount = 12;
  const rounds = 10;
  const figures: KillRound[] = [];

  for (let round = 0; round < rounds; round++) {
    const server = await startServer(data, ["--quiet"]);
    if (round > 0) await checkRound(figures[round - 1], server.port);
    // The kill fires on events, never on a timer: once this round has
    // `ackTarget` acknowledged votes and, sent after those and not yet
    // answered, at least `inFlightTarget` ballots, so it lands amid the
    // commits that follow acknowledged ones.
    const ackTarget = 2 + Math.floor(random() * 12);
    const inFlightTarget = 2 + Math.floor(random() * 4);
    const figure: KillRound = {
      round: round + 1,
      workersAlive: 0,
      inFlight: 0,
      acknowledgedAtKill: 0,
      acknowledged: [],
      lost: 0,
      doubled: 0,
    };
    figures.push(figure);
    let alive = 0;
    let awaitingAnswer = 0;
    let awaitingSinceTarget = 0;
    let killing: Promise<void> | undefined;
    const retry: number[] = [];
    const killIfDue = () => {
      if (killing === undefined && awaitingSinceTarget >= inFlightTarget) {
        figure.workersAlive = alive;
        figure.inFlight = awaitingAnswer;
        figure.acknowledgedAtKill = figure.acknowledged.length;
        killing = server.kill();
      }
    };
    const worker = async () => {
      alive++;
      try {
        while (killing === undefined && waiting.length > 0) {
          const i = waiting.shift()!;
          let settled = false;
          try {
            await using channel = await connectVoter(server.port);
            await logIn(channel, voter(i));
            const ballot = await channel.request({ type: "menu", choice: 1 });
            if (ballot.type === "vote" && ballot.answer === 0) {
              settled = true; // recorded before a kill, never acknowledged
              continue;
            }
            const afterTarget = figure.acknowledged.length >= ackTarget;
            awaitingAnswer++;
            if (afterTarget) awaitingSinceTarget++;
            killIfDue();
            let answer;
            try {
              answer = await channel.request({
                type: "ballot",
                choice: choiceOf(i),
              });
            } finally {
              awaitingAnswer--;
              if (afterTarget) awaitingSinceTarget--;
            }
            if (answer.type === "ballot" && answer.answer === 1) {
              settled = true;
              acknowledged.add(i);
              figure.acknowledged.push(i);
            }
          } finally {
            if (!settled) retry.push(i);
          }
        }
      } catch {
        // The server was killed under this worker's session.
      } finally {
        alive--;
      }
    };
    await Promise.all(Array.from({ length: workerCount }, worker));
    // Only when every voter has voted without meeting the targets: the
    // assertions below then fail on the figures.
    killing ??= server.kill();
    await killing;
    waiting.push(...retry);
  }

  // After the last crash every voter, acknowledged or not, votes exactly once.
  const server = await startServer(data);
  let lost = 0;
  try {
    await checkRound(figures[rounds - 1], server.port);
    for (let i = 0; i < voterCount; i++) {
      await using channel = await connectVoter(server.port);
      await logIn(channel, voter(i));
      const ballot = await channel.request({ type: "menu", choice: 1 });
      if (ballot.type === "vote" && ballot.answer === 1) {
        if (acknowledged.has(i)) lost++;
        const answer = await channel.request({
          type: "ballot",
          choice: choiceOf(i),
        });
        assert.deepEqual(answer, { type: "ballot", answer: 1 });
      }
      const again = await channel.request({ type: "menu", choice: 1 });
      assert.deepEqual(
        again,
        { type: "vote", answer: 0 },
        `V${i} could vote twice`,
      );
    }
  } finally {
    await server.stop();
  }
  const history = lines(await Deno.readTextFile(join(data, "history")));
  const names = history.map((l) => l.split(" ")[0]);
  const doubled = names.length - new Set(names).size;
  const expected = candidates.map((c, k) =>
    `${c} ${
      Array.from({ length: voterCount }, (_, i) => i).filter((i) =>
        choiceOf(i) === k + 1
      ).length
    }`
  );
  for (const f of figures) {
    console.log(
      `kill -9 round ${f.round}: workers alive ${f.workersAlive}/${workerCount}, ballots in flight at the kill ${f.inFlight}, acknowledged ${f.acknowledged.length} (${
        f.acknowledged.length - f.acknowledgedAtKill
      } racing the kill), lost ${f.lost}, doubled ${f.doubled}`,
    );
  }
  const inFlightAtKills = figures.reduce((n, f) => n + f.inFlight, 0);
  console.log(
    `kill -9 rounds: ${rounds}, votes acknowledged before a kill: ${acknowledged.size}, ballots in flight at the kills: ${inFlightAtKills}, lost: ${lost}, doubled: ${doubled}`,
  );
  // The test proves something only if every kill met live sessions,
  // acknowledged votes and commits in progress.
  for (const f of figures) {
    assert.ok(
      f.inFlight >= 2,
      `round ${f.round}: only ${f.inFlight} ballots in flight at the kill`,
    );
    assert.ok(
      f.workersAlive === workerCount,
      `round ${f.round}: ${f.workersAlive} workers alive at the kill`,
    );
    assert.equal(f.lost, 0, `round ${f.round}: acknowledged votes lost`);
    assert.equal(f.doubled, 0, `round ${f.round}: voters counted twice`);
  }
  assert.ok(
    acknowledged.size >= 20,
    `only ${acknowledged.size} votes acknowledged`,
  );
  assert.equal(lost, 0, "acknowledged votes lost");
  assert.equal(doubled, 0, "voters counted twice");
  assert.equal(names.length, voterCount);
  assert.deepEqual(
    lines(await Deno.readTextFile(join(data, "result"))),
    expected,
  );
  const verify = await runProgram("server", ["verify", "--data", data]);
  assert.deepEqual(lines(verify.stdout), [
    `turnout ${voterCount}/${voterCount}`,
    "consistent",
  ]);

  /**
   * After a round's kill, on the restarted server: which of the round's
   * acknowledged votes are gone (the voter may vote again), and who is in
   * history twice.
   */
  async function checkRound(figure: KillRound, port: number): Promise<void> {
    for (const i of figure.acknowledged) {
      await using channel = await connectVoter(port);
      await logIn(channel, voter(i));
      const ballot = await channel.request({ type: "menu", choice: 1 });
      if (ballot.type !== "vote" || ballot.answer !== 0) figure.lost++;
    }
    const names = lines(await Deno.readTextFile(join(data, "history")))
      .map((l) => l.split(" ")[0]);
    figure.doubled = names.length - new Set(names).size;
  }
});

/** One kill -9 round's figures. */
interface KillRound {
  round: number;
  /** Workers with a session running when the kill was sent. */
  workersAlive: number;
  /** Ballots sent and not yet answered when the kill was sent. */
  inFlight: number;
  /** Votes acknowledged when the kill was sent. */
  acknowledgedAtKill: number;
  /** The voters whose votes this round acknowledged, before or racing the kill. */
  acknowledged: number[];
  /** Acknowledged votes the restarted server no longer had. */
  lost: number;
  /** Voters in history twice after the restart. */
  doubled: number;
}

Deno.test("a full disk refuses the vote cleanly, changes nothing, and the server keeps serving", async () => {
  // A real ENOSPC: the election lives on a tiny tmpfs that is then filled.
  await using mount = await tempDir("booth-full-");
  const mountPoint = mount.path;
  await command("mount", [
    "-t",
    "tmpfs",
    "-o",
    "size=256k",
    "tmpfs",
    mountPoint,
  ]);
  try {
    const data = join(mountPoint, "data");
    const init = await runProgram("server", ["init", "--data", data]);
    assert.equal(init.code, 0, init.stderr);
    const server = await startServer(data);
    try {
      const before = await Deno.readTextFile(join(data, "result"));
      await command("dd", [
        "if=/dev/zero",
        `of=${join(mountPoint, "filler")}`,
        "bs=4k",
      ], false);
      const refused = await runClient(server.port, [
        ...ALICE,
        "1",
        "1",
        "3",
        "4",
      ]);
      assert.equal(refused.code, 0, refused.stderr);
      assert.deepEqual(lines(refused.stdout).slice(-12), [
        "Your vote could not be recorded; please try again later",
        ...MENU,
        "You have not voted yet",
        ...MENU,
      ]);
      assert.equal(await Deno.readTextFile(join(data, "result")), before);
      await assert.rejects(
        Deno.stat(join(data, "history")),
        Deno.errors.NotFound,
      );
      assert.equal(await Deno.readTextFile(join(data, "journal")), "");
      await server.until(
        "stderr",
        occurs(
          /vote refused: Alice \(Cannot record a vote .*No space left on device/,
        ),
        "the refusal in the log",
      );

      await Deno.remove(join(mountPoint, "filler"));
      const retried = await runClient(server.port, [...ALICE, "1", "1", "4"]);
      assert.deepEqual(lines(retried.stdout).slice(-6), [
        "Your vote has been recorded.",
        ...MENU,
      ]);
      assert.equal(
        await Deno.readTextFile(join(data, "result")),
        "Chris 1\nLinda 0\n",
      );
    } finally {
      await server.stop();
    }
  } finally {
    await command("umount", [mountPoint]);
  }
});

async function command(
  program: string,
  args: string[],
  mustSucceed = true,
): Promise<void> {
  const { code, stderr } = await new Deno.Command(program, {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (mustSucceed && code !== 0) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${
        new TextDecoder().decode(stderr)
      }`,
    );
  }
}

Deno.test("one election, one server: a second server and init --force are refused while it runs", async () => {
  const data = await initElection();
  const first = await startServer(data);
  try {
    assert.equal(
      await refusedServe(data),
      `Another server is serving the election in ${data}/: stop it first (only one process may write an election)`,
    );
    const before = await Deno.readTextFile(join(data, "passwords"));
    const init = await runProgram("server", [
      "init",
      "--data",
      data,
      "--force",
    ]);
    assert.equal(init.code, 1);
    assert.match(
      init.stderr,
      /^Another server is serving the election in .*: stop it first/,
    );
    assert.equal(
      await Deno.readTextFile(join(data, "passwords")),
      before,
      "nothing replaced",
    );
    const vote = await runClient(first.port, [...ALICE, "1", "1", "4"]);
    assert.deepEqual(lines(vote.stdout).slice(-6), [
      "Your vote has been recorded.",
      ...MENU,
    ]);
  } finally {
    assert.equal(await first.stop(), 0);
  }
  // Once it stops, the election is free again.
  const next = await startServer(data);
  assert.equal(await next.stop(), 0);
});

/** Replaces a text file's content with `edit` of it. */
async function editText(
  path: string,
  edit: (text: string) => string,
): Promise<void> {
  await Deno.writeTextFile(path, edit(await Deno.readTextFile(path)));
}

/** Each kind of damage, what verify reports, and the line start-up refuses with. */
const DAMAGE: {
  name: string;
  damage: (data: string) => Promise<void>;
  problem: RegExp;
}[] = [
  {
    name: "result total differs from history lines",
    damage: (data) =>
      Deno.writeTextFile(join(data, "result"), "Chris 2\nLinda 1\n"),
    problem:
      /^Result file ".*result": totals add up to 3 votes but history has 1 lines$/,
  },
  {
    name: "a voter twice in history",
    damage: async (data) => {
      await editText(join(data, "history"), (line) => line + line);
      await Deno.writeTextFile(join(data, "result"), "Chris 0\nLinda 2\n");
    },
    problem:
      /^History file ".*history": line 2 records a second vote by "Bob" \(first on line 1\)$/,
  },
  {
    name: "history names someone not in passwords",
    damage: (data) =>
      Deno.writeTextFile(join(data, "history"), "Eve 2026-11-26T03:40:12Z\n"),
    problem:
      /^History file ".*history": line 1 names "Eve", who is not in passwords$/,
  },
  {
    name: "result and candidates disagree",
    damage: (data) =>
      Deno.writeTextFile(join(data, "result"), "Chris 0\nLisa 1\n"),
    problem:
      /^Cannot read result file ".*result": line 2 names "Lisa" where candidates has "Linda"$/,
  },
  ...[
    ["a malformed line", "Bob at noon\n"],
    ["an impossible time in history", "Bob 2026-02-30T10:00:00Z\n"],
  ].map(([name, history]) => ({
    name,
    damage: (data: string) =>
      Deno.writeTextFile(join(data, "history"), history),
    problem:
      /^Cannot read history file ".*history": line 1 is not "<voter name> <ISO 8601 time>"$/,
  })),
  {
    name: "a last history line without its newline",
    damage: (data) => editText(join(data, "history"), (line) => line.trimEnd()),
    problem:
      /^Cannot read history file ".*history": line 1 does not end with a newline$/,
  },
  {
    name: "a voter file that is not UTF-8",
    damage: async (data) => {
      const bytes = await Deno.readFile(join(data, "passwords"));
      // "Alice" becomes Latin-1 "Alicé".
      bytes[4] = 0xe9;
      await Deno.writeFile(join(data, "passwords"), bytes);
    },
    problem: /^Cannot read voter file ".*passwords": line 1 is not UTF-8 text$/,
  },
  {
    name: "a passwords entry that fails to authenticate under K",
    damage: (data) =>
      editText(join(data, "passwords"), (text) => {
        const rows = lines(text).map((l) => l.split(" "));
        [rows[0][2], rows[1][2]] = [rows[1][2], rows[0][2]];
        return rows.map((r) => r.join(" ") + "\n").join("");
      }),
    problem:
      /^Voter file ".*passwords": line 1 \("Alice"\) does not authenticate under the key in symkey$/,
  },
];

Deno.test("server verify reports a consistent election with its turnout", async () => {
  const data = await initElection();
  const fresh = await runProgram("server", ["verify", "--data", data]);
  assert.equal(fresh.code, 0);
  assert.deepEqual(lines(fresh.stdout), ["turnout 0/3", "consistent"]);
});

for (const { name, damage, problem } of DAMAGE) {
  Deno.test(`verify reports, and start-up refuses, ${name}`, async () => {
    const data = await initElection();
    const server = await startServer(data);
    try {
      await runClient(server.port, ["Bob", "1138765", "5678", "1", "2", "4"]);
    } finally {
      await server.stop();
    }
    await damage(data);
    const verify = await runProgram("server", ["verify", "--data", data]);
    assert.equal(verify.code, 1, verify.stdout + verify.stderr);
    assert.ok(lines(verify.stdout).some((l) => problem.test(l)), verify.stdout);
    assert.ok(
      !/Chris .*Bob|Bob .*(Chris|Linda)/.test(verify.stdout),
      "verify links a voter to a choice",
    );

    assert.match(
      (await refusedServe(data)).replace(/^Refusing to serve: /, "").replace(
        / \(run `deno task server verify.*$/,
        "",
      ),
      problem,
    );
  });
}
