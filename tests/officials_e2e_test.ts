/**
 * The election official's side end to end (issue 13): the real `server`
 * subcommands and the real client over real TLS. Times are real and set
 * relative to now; the rules behind them are tested on a fake clock in
 * polls_test.ts.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import {
  ALICE,
  BOB,
  connectVoter,
  lines,
  logIn,
  LOGIN_PROMPTS,
  MENU,
  runClient,
  startServer,
  TOM,
} from "./helpers.ts";
import {
  assertClosedBeforeOpening,
  assertReportHashes,
  GENERATED_PASSWORD,
  initElectionIn,
  initWithCredentials,
  minutesFromNow,
  oneLine,
  passwdInto,
  refusal,
  reportSummary,
  resultOnceShown,
  servedElection,
  server,
  writeRollToGenerate,
} from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";
import { CLOSED_ON_ONE_VOTE_FOR_CHRIS } from "./sessions.ts";

/**
 * A client session that asks to vote, then for the result, then exits.
 *
 * @returns What the client printed in answer to each, between the menus
 * (after checking the welcome and the three menus around them).
 */
async function votesThenViewsResult(
  port: number,
  voter: string[],
): Promise<{ vote: string[]; result: string[] }> {
  const out = await runClient(port, [...voter, "1", "2", "4"]);
  assert.equal(out.code, 0, out.stderr);
  const [welcome, ...rest] = lines(out.stdout).slice(LOGIN_PROMPTS.length);
  assert.equal(welcome, `Welcome ${voter[0]}!`);
  const between = rest.join("\n").split(MENU.join("\n"));
  assert.equal(between.length, 4, out.stdout);
  const [before, vote, result, after] = between.map((text) =>
    lines(text.replace(/^\n/, ""))
  );
  assert.deepEqual([before, after], [[], []], out.stdout);
  return { vote, result };
}

Deno.test("generated credentials log in through the real client; passwd replaces a lost one, never while serving", async () => {
  await using tmp = await tempDir("booth-officials-");
  const roll = await writeRollToGenerate(tmp.path);
  const out = join(tmp.path, "credentials.txt");
  const data = join(tmp.path, "data");

  assert.match(
    await refusal(1, ["init", "--data", data, "--voters", roll]),
    /^Cannot create the election: 2 voters in ".*roll\.txt" have no password \(the first is "Alice"\); add --credentials OUT to generate them$/,
  );
  await assert.rejects(
    Deno.stat(data),
    Deno.errors.NotFound,
    "nothing written",
  );

  const init = await server(...initWithCredentials(data, roll, out));
  assert.equal(init.code, 0, init.stderr);
  assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);
  const credentials = lines(await Deno.readTextFile(out)).map((l) =>
    l.split(" ")
  );
  assert.deepEqual(credentials.map(([name, number]) => `${name} ${number}`), [
    "Alice 1123456",
    "Bob 1138765",
    "Tom 1154571",
  ]);
  assert.match(credentials[0][2], GENERATED_PASSWORD);
  assert.match(credentials[1][2], GENERATED_PASSWORD);
  assert.equal(credentials[2][2], "9012", "a given password is kept");
  const written = await Deno.readTextFile(out);
  assert.match(
    await refusal(1, initWithCredentials(join(tmp.path, "other"), roll, out)),
    /^Credentials file ".*credentials\.txt" exists: use --force to replace it$/,
  );
  assert.equal(
    await Deno.readTextFile(out),
    written,
    "never overwritten without --force",
  );

  const [alice, bob] = credentials;
  let running = await startServer(data);
  try {
    const session = await runClient(running.port, [...alice, "1", "1", "4"]);
    assert.equal(session.code, 0, session.stderr);
    assert.deepEqual(lines(session.stdout).slice(0, 4), [
      ...LOGIN_PROMPTS,
      "Welcome Alice!",
    ]);
    assert.ok(lines(session.stdout).includes("Your vote has been recorded."));

    assert.equal(
      await refusal(1, ["passwd", "--data", data, "--voter", "Bob"]),
      `A server is serving the election in ${data}/: stop it first, then run passwd again (a password cannot change while voters log in)`,
    );
  } finally {
    assert.equal(await running.stop(), 0);
  }

  const passwd = await server("passwd", "--data", data, "--voter", "Bob");
  assert.equal(passwd.code, 0, passwd.stderr);
  const [name, number, password] = oneLine(passwd.stdout).split(" ");
  assert.deepEqual([name, number], ["Bob", "1138765"]);
  assert.match(password, GENERATED_PASSWORD);
  assert.notEqual(password, bob[2]);
  const appended = await passwdInto(data, "Tom", out);
  assert.equal(appended.code, 0, appended.stderr);
  const tomLines = lines(await Deno.readTextFile(out)).filter((l) =>
    l.startsWith("Tom ")
  );
  assert.equal(tomLines.length, 2, "the new line is appended");
  const tomPassword = tomLines[1].split(" ")[2];
  assert.match(tomPassword, GENERATED_PASSWORD);

  running = await startServer(data);
  try {
    const old = await runClient(running.port, [
      ...bob,
      ...bob.slice(0, 2),
      password,
      "4",
    ]);
    assert.equal(old.code, 0, old.stderr);
    assert.deepEqual(lines(old.stdout).slice(3, 8), [
      "Invalid name, registration number, or password",
      ...LOGIN_PROMPTS,
      "Welcome Bob!",
    ]);
    // As a voter may copy the letter: lower case, spaces for the dashes.
    const tom = await runClient(running.port, [
      "Tom",
      "1154571",
      tomPassword.toLowerCase().replaceAll("-", " "),
      "4",
    ]);
    assert.ok(lines(tom.stdout).includes("Welcome Tom!"), tom.stdout);
  } finally {
    assert.equal(await running.stop(), 0);
  }
});

Deno.test("init refuses in one line a closing time in the past, or not after the opening, and creates nothing", async () => {
  await using tmp = await tempDir("booth-officials-");
  const data = join(tmp.path, "data");
  const past = "2020-01-01T00:00:00Z";
  assert.equal(
    await refusal(2, ["init", "--data", data, "--closes-at", past]),
    `Refusing the polls window: the closing time "${past}" is in the past (see --help)`,
  );
  const opens = minutesFromNow(60);
  assert.match(
    await refusal(2, [
      "init",
      "--data",
      data,
      "--opens-at",
      opens,
      "--closes-at",
      opens,
    ]),
    /^Refusing the polls window: the closing time ".*" is not after the opening time ".*" \(see --help\)$/,
  );
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp.path)), []);
});

Deno.test("a vote before the opening is refused with the main menu after; the report shows no result", async () => {
  await using booth = await servedElection(
    "booth-officials-",
    "--opens-at",
    minutesFromNow(60),
    "--closes-at",
    minutesFromNow(120),
  );
  const { data, server: running } = booth;
  const alice = await votesThenViewsResult(running.port, ALICE);
  assert.deepEqual(alice, {
    vote: ["The polls are not open yet"],
    result: ["The result is not available"],
  });
  const summary = await reportSummary("--data", data);
  assert.equal(summary.state, "not-open");
  assert.equal(summary.voted, 0);
  assert.equal(summary.result, undefined);
  assert.equal(
    summary.sha256.result,
    null,
    "no hash of the totals before the result",
  );
});

Deno.test("a polls file broken while the server runs is logged once, and the last good window stays in force", async () => {
  await using booth = await servedElection("booth-officials-");
  const { data, server: running } = booth;
  await Deno.writeTextFile(join(data, "polls"), "closes-at tomorrow\n");
  for (
    const voter of [ALICE, BOB]
  ) {
    const out = await runClient(running.port, [...voter, "1", "1", "4"]);
    assert.ok(
      lines(out.stdout).includes("Your vote has been recorded."),
      out.stdout,
    );
  }
  const reported = lines(running.stderr()).filter((line) =>
    line.includes("polls")
  );
  assert.equal(reported.length, 1, running.stderr());
  assert.match(
    reported[0],
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ Cannot read polls file ".*polls": line 1 is not "opens-at <time>" or "closes-at <time>".*; the server keeps the polls window it last read until the file is fixed$/,
  );
});

Deno.test("server close takes effect on a running server; the result then shows the turnout; report and verify agree with the files", async () => {
  await using tmp = await tempDir("booth-officials-");
  const data = await initElectionIn(tmp.path);
  const running = await startServer(data);
  try {
    const alice = await runClient(running.port, [
      ...ALICE,
      "1",
      "1",
      "4",
    ]);
    assert.ok(
      lines(alice.stdout).includes("Your vote has been recorded."),
      alice.stdout,
    );

    const open = await reportSummary("--data", data);
    assert.equal(open.state, "open");
    assert.deepEqual([open.voted, open.registered, open.turnoutPercent], [
      1,
      3,
      33.3,
    ]);
    assert.equal(
      open.result,
      undefined,
      "no running totals while the polls are open",
    );
    assert.equal(open.sha256.result, null);

    await using bob = await connectVoter(running.port);
    assert.equal(
      (await logIn(bob, BOB) as { answer: number })
        .answer,
      1,
    );
    const close = await server("close", "--data", data);
    assert.equal(close.code, 0, close.stderr);
    assert.match(oneLine(close.stdout), /^the polls in .* closed at \d{4}-/);
    const closedAt = performance.now();
    const { result, tookMs } = await resultOnceShown(bob, closedAt);
    console.log(
      `server close reached the running server in ${tookMs.toFixed(0)} ms`,
    );
    assert.ok(tookMs < 5_000, `${tookMs} ms (the promise is 1 s)`);
    assert.deepEqual(result, CLOSED_ON_ONE_VOTE_FOR_CHRIS);
    assert.deepEqual(await bob.request({ type: "menu", choice: 1 }), {
      type: "vote",
      answer: 0,
      reason: "polls-closed",
    });

    const tom = await votesThenViewsResult(running.port, TOM);
    assert.deepEqual(tom, {
      vote: ["The polls are closed"],
      result: ["Polls closed: turnout 1/3", "Chris Win", "Chris 1", "Linda 0"],
    });

    const summary = await reportSummary("--data", data);
    assert.equal(summary.state, "closed");
    assert.deepEqual([summary.voted, summary.registered], [1, 3]);
    assert.deepEqual(summary.result, {
      winners: ["Chris"],
      candidates: [
        { name: "Chris", votes: 1, percent: 100 },
        { name: "Linda", votes: 0, percent: 0 },
      ],
    });
    await assertReportHashes(summary, data);
    const text = await server("report", "--data", data);
    assert.equal(text.code, 0, text.stderr);
    const report = lines(text.stdout);
    for (
      const expected of [
        "State: closed",
        "Turnout: 1/3 (33.3%)",
        `Chris  1  100.0%  ${"#".repeat(30)}`,
        "Linda  0    0.0%",
        "Chris Win",
        `  history    ${summary.sha256.history}`,
      ]
    ) {
      assert.ok(report.includes(expected), `"${expected}" in\n${text.stdout}`);
    }

    assert.match(
      await refusal(1, [
        "close",
        "--data",
        data,
        "--at",
        minutesFromNow(60),
      ]),
      /^Cannot close the polls in .*: the polls closed already/,
    );
  } finally {
    assert.equal(await running.stop(), 0);
  }
  const verified = await server("verify", "--data", data);
  assert.equal(verified.code, 0, verified.stdout);
  await Deno.writeTextFile(join(data, "polls"), "closes-at tomorrow\n");
  const broken = await server("verify", "--data", data);
  assert.equal(broken.code, 1);
  const [turnout, problem, ...more] = lines(broken.stdout);
  assert.match(turnout, /^turnout \d\/3$/);
  assert.match(
    problem,
    /^Cannot read polls file ".*polls": line 1 is not "opens-at <time>" or "closes-at <time>"/,
  );
  assert.deepEqual(more, []);
  assert.equal(dirname(data), tmp.path);
});

Deno.test("close before the opening closes the election without it ever opening: the report says the polls never open and shows no opening time, then closed before opening with turnout 0/3 and the result at a whole second; a second close is refused", async () => {
  await using tmp = await tempDir("booth-officials-");
  const data = join(tmp.path, "data");
  const init = await server(
    "init",
    "--data",
    data,
    "--opens-at",
    minutesFromNow(60),
    "--closes-at",
    minutesFromNow(120),
  );
  assert.equal(init.code, 0, init.stderr);
  const summary = await assertClosedBeforeOpening("--data", data);
  assert.deepEqual([summary.voted, summary.registered], [0, 3]);
  const again = await server("close", "--data", data);
  assert.equal(again.code, 1);
  assert.match(oneLine(again.stderr), /the polls closed already/);
  const verified = await server("verify", "--data", data);
  assert.deepEqual(lines(verified.stdout), ["turnout 0/3", "consistent"]);
});
