/**
 * `server close` on a running server, end to end over real TLS: a ballot
 * held open while it runs is refused once it has returned, and the report
 * printed right after it is the final result.
 */

import assert from "node:assert/strict";
import { connectVoter, logIn } from "./helpers.ts";
import type { ServerChannel } from "../lib/client/voter_client.ts";
import { reportSummary, servedElection, server } from "./server_commands.ts";

async function votes(channel: ServerChannel, choice: number): Promise<void> {
  assert.equal(
    (await channel.request({ type: "menu", choice: 1 })).type,
    "vote",
  );
  assert.deepEqual(await channel.request({ type: "ballot", choice }), {
    type: "ballot",
    answer: 1,
  });
}

Deno.test("a ballot held open across server close is refused with polls-closed, and the report after close is the final result", async () => {
  await using booth = await servedElection("booth-closing-");
  const { data, server: running } = booth;
  await using alice = await connectVoter(running.port);
  await logIn(alice, ["Alice", "1123456", "1234"]);
  await votes(alice, 1);
  await using bob = await connectVoter(running.port);
  await logIn(bob, ["Bob", "1138765", "5678"]);
  await votes(bob, 2);
  await using tom = await connectVoter(running.port);
  await logIn(tom, ["Tom", "1154571", "9012"]);
  assert.deepEqual(await tom.request({ type: "menu", choice: 1 }), {
    type: "vote",
    answer: 1,
    candidates: ["Chris", "Linda"],
  });
  // The server re-reads its menu's view of `polls` now: it stays "open"
  // in that cache for up to a second after the close below.
  assert.deepEqual(await bob.request({ type: "menu", choice: 2 }), {
    type: "result",
    answer: 0,
  });

  const close = await server("close", "--data", data);
  assert.equal(close.code, 0, close.stderr);
  // The held ballot goes at once, while the report is being made.
  const ballot = tom.request({ type: "ballot", choice: 1 });
  const afterClose = await reportSummary("--data", data);
  assert.equal(afterClose.state, "closed");
  assert.deepEqual(await ballot, {
    type: "ballot",
    answer: 0,
    reason: "polls-closed",
  });
  const final = await reportSummary("--data", data);
  assert.deepEqual(
    [afterClose.voted, afterClose.result, afterClose.sha256],
    [final.voted, final.result, final.sha256],
  );
  assert.deepEqual(final.result, {
    winners: ["Chris", "Linda"],
    candidates: [
      { name: "Chris", votes: 1, percent: 50 },
      { name: "Linda", votes: 1, percent: 50 },
    ],
  });
  const verify = await server("verify", "--data", data);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});
