/**
 * The server's security log shows what a peer sent escaped, as the client's
 * terminal does: a bidi override or a newline in a registration number can
 * neither reorder a log line nor forge a second one.
 */

import assert from "node:assert/strict";
import {
  closeVoters,
  connectVoter,
  eventually,
  logIn,
  startServer,
} from "./helpers.ts";
import { escapeLogLine } from "../lib/terminal/escape.ts";
import { initElectionIn } from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

Deno.test("a log line is one line with format and control characters escaped", () => {
  assert.equal(
    escapeLogLine('login failed for "\u202e4321"\n12:00 forged \x1b[2J'),
    'login failed for "\\u{202E}4321"\\x0a12:00 forged \\x1b[2J',
  );
});

Deno.test("a registration number with a right-to-left override reaches the server's log escaped", async () => {
  await using tmp = await tempDir("booth-log-");
  const data = await initElectionIn(tmp.path);
  const running = await startServer(data);
  try {
    const voter = await connectVoter(running.port);
    const reply = await logIn(voter, ["Alice", "\u202e6543211", "1234"]);
    assert.equal(reply.type === "login" && reply.answer, 0);
    const failed = () =>
      running.stderr().split("\n").find((line) =>
        line.includes("login failed for registration number")
      );
    await eventually(() => failed() !== undefined, "the log line", 15_000);
    assert.ok(failed()!.endsWith('"\\u{202E}6543211"'), failed());
    assert.ok(!running.stderr().includes("\u202e"), "no raw U+202E");
  } finally {
    closeVoters();
    assert.equal(await running.stop(), 0);
  }
});
