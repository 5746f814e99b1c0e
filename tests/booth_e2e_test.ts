/**
 * The booth end to end: the real server process on a free loopback port,
 * the real client process with piped sessions, over real TLS with
 * certificates made like `make certs`. Transcripts are compared verbatim.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ALICE,
  assertPrinted,
  BALLOT,
  BOB,
  initElection,
  ISO_UTC,
  lines,
  LOGIN_PROMPTS,
  MENU,
  occurs,
  runClient,
  startServer,
  TOM,
  typingClient,
} from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";
import type { TempDir } from "./temp_dir.ts";

/** A voter's piped session: credentials, then menu answers. */
function session(voter: string[], ...answers: string[]): string[] {
  return [...voter, ...answers];
}

Deno.test("a full election of the seed's voters goes through all eight steps verbatim", async () => {
  const data = await initElection();
  const server = await startServer(data);
  try {
    const alice = await runClient(server.port, [
      "Alice",
      "1123456",
      "9999", // wrong password first
      ...ALICE,
      "3", // history before voting
      "1", // vote
      "1", // Chris
      "3", // history
      "2", // result: not everyone has voted
      "1", // vote again
      "7", // not a menu item
      "4",
    ]);
    assert.deepEqual(alice.code, 0, alice.stderr);
    assert.deepEqual(lines(alice.stdout).map(maskTime), [
      ...LOGIN_PROMPTS,
      "Invalid name, registration number, or password",
      ...LOGIN_PROMPTS,
      "Welcome Alice!",
      ...MENU,
      "You have not voted yet",
      ...MENU,
      ...BALLOT,
      "Your vote has been recorded.",
      ...MENU,
      "Alice <time>",
      ...MENU,
      "The result is not available",
      ...MENU,
      "you have already voted",
      ...MENU,
      'Please type 1, 2, 3 or 4 and press Enter (you typed "7")',
      ...MENU,
    ]);

    const bob = await runClient(server.port, session(BOB, "1", "2", "4"));
    assert.deepEqual(bob.code, 0, bob.stderr);
    const tom = await runClient(server.port, session(TOM, "1", "1", "2", "4"));
    assert.deepEqual(tom.code, 0, tom.stderr);
    assert.deepEqual(lines(tom.stdout).slice(-14), [
      "Your vote has been recorded.",
      ...MENU,
      "Chris Win",
      "Chris 2",
      "Linda 1",
      ...MENU,
    ]);

    assert.deepEqual(
      await Deno.readTextFile(join(data, "result")),
      "Chris 2\nLinda 1\n",
    );
    const history = lines(await Deno.readTextFile(join(data, "history")));
    assert.deepEqual(history.map((l) => l.split(" ")[0]), [
      "Alice",
      "Bob",
      "Tom",
    ]);
    for (const line of history) assert.match(line.split(" ")[1], ISO_UTC);
    const aliceLine = lines(alice.stdout).find((l) => l.startsWith("Alice "));
    assert.deepEqual(
      aliceLine,
      history[0],
      "step 7 shows the voter's own history line",
    );
  } finally {
    assert.deepEqual(
      await server.stop(),
      0,
      "SIGTERM stops the server cleanly",
    );
  }
});

Deno.test("a second vote is refused in a new session and after a server restart", async () => {
  const data = await initElection();
  let server = await startServer(data);
  try {
    assert.deepEqual(
      (await runClient(server.port, session(BOB, "1", "2", "4"))).code,
      0,
    );
    const again = await runClient(server.port, session(BOB, "1", "4"));
    assert.deepEqual(lines(again.stdout).slice(-6), [
      "you have already voted",
      ...MENU,
    ]);
    assert.deepEqual(await server.stop(), 0);

    server = await startServer(data);
    const afterRestart = await runClient(
      server.port,
      session(BOB, "1", "3", "4"),
    );
    const out = lines(afterRestart.stdout).map(maskTime);
    assert.deepEqual(out.slice(-12), [
      "you have already voted",
      ...MENU,
      "Bob <time>",
      ...MENU,
    ]);
    assert.deepEqual(
      await Deno.readTextFile(join(data, "result")),
      "Chris 0\nLinda 1\n",
    );
    assert.deepEqual(
      lines(await Deno.readTextFile(join(data, "history"))).length,
      1,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("the result stays hidden until every registered voter has voted, then a tie is announced", async () => {
  await using rollDir = await tempDir("booth-roll-");
  const roll = await writeRoll(rollDir, [
    "# four voters, so two candidates can tie",
    "Ann 1001 pin-a",
    "",
    "Ben 1002 pin-b",
    "Cat 1003 pin-c",
    "Dan 1004 pin-d",
  ]);
  const data = await initElection(["--voters", roll]);
  const server = await startServer(data);
  try {
    const votes: [string, string, string, string][] = [
      ["Ann", "1001", "pin-a", "1"],
      ["Ben", "1002", "pin-b", "2"],
      ["Cat", "1003", "pin-c", "1"],
    ];
    for (const [name, number, password, choice] of votes) {
      const out = await runClient(server.port, [
        name,
        number,
        password,
        "1",
        choice,
        "2",
        "4",
      ]);
      assert.deepEqual(lines(out.stdout).slice(-12), [
        "Your vote has been recorded.",
        ...MENU,
        "The result is not available",
        ...MENU,
      ]);
    }
    const last = await runClient(server.port, [
      "Dan",
      "1004",
      "pin-d",
      "1",
      "2",
      "2",
      "4",
    ]);
    assert.deepEqual(lines(last.stdout).slice(-8, -5), [
      "Tie between Chris and Linda",
      "Chris 2",
      "Linda 2",
    ]);
  } finally {
    await server.stop();
  }
});

Deno.test("an election with other voters and candidates: ballot of three, a three-way tie", async () => {
  await using rollDir = await tempDir("booth-roll-");
  const roll = await writeRoll(rollDir, [
    "Xia 7001 a1",
    "Yan 7002 b2",
    "Zed 7003 c3",
  ]);
  const data = await initElection([
    "--voters",
    roll,
    "--candidates",
    "Ada,Bo,Cy",
  ]);
  assert.deepEqual(
    await Deno.readTextFile(join(data, "candidates")),
    "Ada\nBo\nCy\n",
  );
  assert.deepEqual(
    await Deno.readTextFile(join(data, "result")),
    "Ada 0\nBo 0\nCy 0\n",
  );
  const server = await startServer(data);
  try {
    const xia = await runClient(server.port, [
      "Xia",
      "7001",
      "a1",
      "1",
      "0",
      "4",
      "x",
      "3",
      "4",
    ]);
    const ballot = ["Candidates: (enter 1-3)", "1. Ada", "2. Bo", "3. Cy"];
    const hint = (typed: string) =>
      `Please type a number from 1 to 3 and press Enter (you typed "${typed}")`;
    assert.deepEqual(
      lines(xia.stdout).slice(LOGIN_PROMPTS.length + 1 + MENU.length),
      [
        ...ballot,
        hint("0"),
        ...ballot,
        hint("4"),
        ...ballot,
        hint("x"),
        ...ballot,
        "Your vote has been recorded.",
        ...MENU,
      ],
    );
    await runClient(server.port, ["Yan", "7002", "b2", "1", "1", "4"]);
    const zed = await runClient(server.port, [
      "Zed",
      "7003",
      "c3",
      "1",
      "2",
      "2",
      "4",
    ]);
    assert.deepEqual(lines(zed.stdout).slice(-9, -5), [
      "Tie between Ada, Bo and Cy",
      "Ada 1",
      "Bo 1",
      "Cy 1",
    ]);
    assert.deepEqual(
      await Deno.readTextFile(join(data, "result")),
      "Ada 1\nBo 1\nCy 1\n",
    );
  } finally {
    await server.stop();
  }
});

Deno.test("the Deno.listenTls engine serves the same session", async () => {
  const data = await initElection();
  const server = await startServer(data, ["--tls-engine", "deno"]);
  try {
    const tom = await runClient(server.port, session(TOM, "1", "2", "3", "4"));
    assert.deepEqual(tom.code, 0, tom.stderr);
    assert.deepEqual(lines(tom.stdout).map(maskTime).slice(-12), [
      "Your vote has been recorded.",
      ...MENU,
      "Tom <time>",
      ...MENU,
    ]);
    assert.deepEqual(
      await Deno.readTextFile(join(data, "result")),
      "Chris 0\nLinda 1\n",
    );
  } finally {
    assert.deepEqual(await server.stop(), 0);
  }
});

Deno.test("the server prints exactly one listening line on stdout and logs no choice", async () => {
  const data = await initElection();
  const server = await startServer(data);
  try {
    await runClient(server.port, session(ALICE, "1", "2", "4"));
  } finally {
    await server.stop();
  }
  assert.deepEqual(lines(server.stdout()), [
    `listening on 127.0.0.1:${server.port}`,
  ]);
  const log = server.stderr();
  assert.match(log, /login ok: Alice/);
  assert.match(log, /vote recorded: Alice/);
  assert.ok(!/Chris|Linda/.test(log), `the log names a candidate:\n${log}`);
});

Deno.test("end of input at any prompt ends the client cleanly", async () => {
  const data = await initElection();
  const server = await startServer(data);
  try {
    for (const answers of [[], ["Alice"], [...ALICE], [...ALICE, "1"]]) {
      const out = await runClient(server.port, answers);
      assert.deepEqual(
        out.code,
        0,
        `after ${JSON.stringify(answers)}: ${out.stderr}`,
      );
      assert.deepEqual(out.stderr, "");
    }
    assert.deepEqual(
      await Deno.readTextFile(join(data, "result")),
      "Chris 0\nLinda 0\n",
    );
  } finally {
    await server.stop();
  }
});

function maskTime(line: string): string {
  const [name, time] = line.split(" ");
  return time !== undefined && ISO_UTC.test(time) &&
      line.split(" ").length === 2
    ? `${name} <time>`
    : line;
}

async function writeRoll(dir: TempDir, rows: string[]): Promise<string> {
  const path = join(dir.path, "voters.txt");
  await Deno.writeTextFile(path, rows.join("\n") + "\n");
  return path;
}

Deno.test("a voter who types past the server's login grace is logged in all the same: the client sends the credentials again on a new connection", async () => {
  const data = await initElection();
  await using server = await startServer(data, ["--login-grace", "1"]);
  const client = await typingClient(server.port);
  await client.output.stdout.until(occurs("Name:"), "the name prompt");
  // The voter is still finding the letter when the grace runs out.
  await server.until(
    "stderr",
    occurs("No login within 1 seconds"),
    "the end of the login grace",
  );
  await client.type(...ALICE, "3", "4");
  const out = await client.finish();
  assertPrinted(out, [
    ...LOGIN_PROMPTS,
    "Welcome Alice!",
    ...MENU,
    "You have not voted yet",
    ...MENU,
  ]);
  assert.equal(out.stderr, "");
});

Deno.test("a password over 256 characters is refused by the client, which asks again instead of losing the session", async () => {
  const data = await initElection();
  await using server = await startServer(data);
  const out = await runClient(server.port, [
    "Alice",
    "1123456",
    "1".repeat(257),
    ...ALICE,
    "4",
  ]);
  assertPrinted(out, [
    ...LOGIN_PROMPTS,
    "Too long: a name, registration number or password has at most 256 characters",
    ...LOGIN_PROMPTS,
    "Welcome Alice!",
    ...MENU,
  ]);
});
