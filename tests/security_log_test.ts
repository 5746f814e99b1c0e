/**
 * The server's security log shows what a peer sent escaped, as the client's
 * terminal does: a bidi override or a newline in a registration number can
 * neither reorder a log line nor forge a second one.
 */

import assert from "node:assert/strict";
import {
  ALICE,
  connectVoter,
  eventually,
  lines,
  logIn,
  occurs,
  readUntilClosed,
  runClient,
  startServer,
} from "./helpers.ts";
import { escapeLogLine } from "../lib/terminal/escape.ts";
import { initElectionIn, servedElection } from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

Deno.test("a log line is one line with format and control characters escaped", () => {
  assert.equal(
    escapeLogLine('login failed for "\u202e4321"\n12:00 forged \x1b[2J'),
    'login failed for "\\u{202E}4321"\\x0a12:00 forged \\x1b[2J',
  );
});

Deno.test("a registration number with a right-to-left override reaches the server's log escaped", async () => {
  await using booth = await servedElection("booth-log-");
  const running = booth.server;
  await using voter = await connectVoter(running.port);
  const reply = await logIn(voter, ["Alice", "\u202e6543211", "1234"]);
  assert.equal(reply.type === "login" && reply.answer, 0);
  const failed = () =>
    running.stderr().split("\n").find((line) =>
      line.includes("login failed for registration number")
    );
  await eventually(() => failed() !== undefined, "the log line", 15_000);
  assert.ok(failed()!.endsWith('"\\u{202E}6543211"'), failed());
  assert.ok(!running.stderr().includes("\u202e"), "no raw U+202E");
});

Deno.test("a server whose log nobody reads still serves a voter, and says how many log lines it dropped once the log is read", async () => {
  await using tmp = await tempDir("booth-log-");
  const data = await initElectionIn(tmp.path);
  await using running = await startServer(
    data,
    ["--max-startups-per-address", "1"],
    { unreadLog: true },
  );
  const loopback = { hostname: "127.0.0.1", port: running.port };
  try {
    // One connection that never says hello holds the address's one start-up
    // slot, so each further connection is refused with a log line of about
    // 100 bytes: 5,000 of them are more than the pipe (64 KiB) and the
    // server's log buffer (256 KiB) hold together.
    const holder = await Deno.connect(loopback);
    try {
      for (let batch = 0; batch < 250; batch++) {
        await Promise.all(
          Array.from({ length: 20 }, async () => {
            const refused = await Deno.connect(loopback);
            try {
              await readUntilClosed(refused, 10_000);
            } finally {
              refused.close();
            }
          }),
        );
      }
    } finally {
      holder.close();
    }
    const alice = await runClient(running.port, [...ALICE, "1", "1", "4"]);
    assert.equal(alice.code, 0, alice.stderr);
    assert.ok(
      lines(alice.stdout).includes("Your vote has been recorded."),
      alice.stdout,
    );
  } finally {
    // From here on the log is read, as when a stalled reader comes back
    // (and a server blocked on its log could not stop).
    running.stderr();
  }
  await running.until(
    "stderr",
    occurs(/ server \d+ log lines dropped \(the log was not being read\)\n/),
    "the count of dropped lines",
  );
  const dropped = Number(
    running.stderr().match(/ server (\d+) log lines dropped/)![1],
  );
  const refusals = running.stderr().match(/connection refused/g)?.length ?? 0;
  assert.equal(refusals + dropped >= 5000, true, `${refusals} + ${dropped}`);
});
