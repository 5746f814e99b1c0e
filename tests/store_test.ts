/**
 * The one writer: votes are never lost and never doubled, whatever happens
 * to the process or the disk during a commit.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { denoFileOps } from "../lib/file_ops.ts";
import type { FileOps } from "../lib/file_ops.ts";
import {
  createElection,
  ElectionStore,
  inspectElection,
  StorageError,
} from "../lib/store.ts";

const SEED = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
  { name: "Tom", number: "1154571", password: "9012" },
];
const clock = () => new Date("2026-11-26T03:40:12Z");

async function newElection(): Promise<string> {
  const dir = join(await Deno.makeTempDir({ prefix: "booth-store-" }), "data");
  await createElection(dir, { voters: SEED, candidates: ["Chris", "Linda"] });
  return dir;
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    files[entry.name] = await Deno.readTextFile(join(dir, entry.name));
  }
  return files;
}

Deno.test("a vote appends one history line and rewrites result; a restart keeps both", async () => {
  const dir = await newElection();
  const store = await ElectionStore.open(dir, { now: clock });
  assert.equal(await store.recordVote("Alice", 2), "recorded");
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 0\nLinda 1\n",
  );
  assert.equal(
    await Deno.readTextFile(join(dir, "history")),
    "Alice 2026-11-26T03:40:12Z\n",
  );
  assert.equal((await Deno.stat(join(dir, "history"))).mode! & 0o777, 0o600);
  const reopened = await ElectionStore.open(dir);
  assert.equal(reopened.election.hasVoted("Alice"), true);
  assert.deepEqual(reopened.election.totals, [0, 1]);
  assert.equal(await reopened.recordVote("Alice", 1), "already-voted");
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 0\nLinda 1\n",
  );
  assert.deepEqual(
    (await snapshot(dir)).journal,
    undefined,
    "no journal after a commit",
  );
});

Deno.test("twenty racing ballots of one voter give exactly one vote", async () => {
  const dir = await newElection();
  const store = await ElectionStore.open(dir);
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.recordVote("Bob", 1 + (i % 2))),
  );
  assert.equal(outcomes.filter((o) => o === "recorded").length, 1);
  assert.equal(outcomes.filter((o) => o === "already-voted").length, 19);
  const history = await Deno.readTextFile(join(dir, "history"));
  assert.equal(history.split("\n").filter(Boolean).length, 1);
  const { problems, state } = await inspectElection(dir);
  assert.deepEqual(problems, []);
  assert.equal(state.totals[0] + state.totals[1], 1);
});

Deno.test("ballots waiting together are committed in one group, each voter once", async () => {
  const dir = await newElection();
  let appends = 0;
  const ops: FileOps = {
    ...denoFileOps,
    appendSynced: (path, text) => {
      appends++;
      return denoFileOps.appendSynced(path, text);
    },
  };
  const store = await ElectionStore.open(dir, { ops });
  const outcomes = await Promise.all([
    store.recordVote("Alice", 1),
    store.recordVote("Bob", 2),
    store.recordVote("Tom", 1),
    store.recordVote("Tom", 2),
  ]);
  assert.deepEqual(outcomes, [
    "recorded",
    "recorded",
    "recorded",
    "already-voted",
  ]);
  assert.ok(appends <= 2, `expected group commits, saw ${appends} appends`);
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 2\nLinda 1\n",
  );
});

/** Thrown by a {@linkcode dyingOps} that has reached its crash point. */
class SimulatedCrash extends Error {}

/**
 * File operations that stop working, as a killed process does, after
 * `survive` operations. The operation at the crash point leaves a torn
 * write: half its text reaches the file.
 */
function dyingOps(survive: number): FileOps & { count: number } {
  let count = 0;
  const step = async <T>(run: () => Promise<T>, tear?: () => Promise<void>) => {
    if (count++ >= survive) {
      if (count - 1 === survive && tear) await tear();
      throw new SimulatedCrash(`crashed at operation ${survive}`);
    }
    return await run();
  };
  const half = (text: string) => text.slice(0, Math.floor(text.length / 2));
  return {
    get count() {
      return count;
    },
    readText: (path) => denoFileOps.readText(path),
    size: (path) => denoFileOps.size(path),
    writeSynced: (path, text) =>
      step(
        () => denoFileOps.writeSynced(path, text),
        () => Deno.writeTextFile(path, half(text)),
      ),
    appendSynced: (path, text) =>
      step(
        () => denoFileOps.appendSynced(path, text),
        () => Deno.writeTextFile(path, half(text), { append: true }),
      ),
    truncateSynced: (path, bytes) =>
      step(() => denoFileOps.truncateSynced(path, bytes)),
    rename: (from, to) => step(() => denoFileOps.rename(from, to)),
    remove: (path) => step(() => denoFileOps.remove(path)),
    syncDir: (dir) => step(() => denoFileOps.syncDir(dir)),
  };
}

for (const earlierVote of [false, true]) {
  Deno.test(
    `a crash at every step of a commit leaves both changes or neither (${
      earlierVote ? "history exists" : "first vote creates history"
    })`,
    async () => {
      // How many operations a whole commit takes, measured, not assumed.
      const probe = await newElection();
      if (earlierVote) {
        await (await ElectionStore.open(probe)).recordVote("Bob", 2);
      }
      const counting = dyingOps(Infinity);
      await (await ElectionStore.open(probe, { ops: counting })).recordVote(
        "Alice",
        1,
      );
      const opensOps = dyingOps(Infinity);
      await ElectionStore.open(probe, { ops: opensOps });
      const commitOps = counting.count - opensOps.count;
      assert.ok(commitOps >= 8, `a commit takes ${commitOps} operations`);

      for (let crashAt = 0; crashAt <= commitOps; crashAt++) {
        const dir = await newElection();
        if (earlierVote) {
          await (await ElectionStore.open(dir)).recordVote("Bob", 2);
        }
        const before = await snapshot(dir);
        const ops = dyingOps(opensOps.count + crashAt);
        const store = await ElectionStore.open(dir, { ops });
        let acknowledged = false;
        try {
          acknowledged = await store.recordVote("Alice", 1) === "recorded";
        } catch (error) {
          assert.ok(error instanceof StorageError, String(error));
        }
        // Restart: recovery runs on the real file system.
        const restarted = await ElectionStore.open(dir);
        const after = await snapshot(dir);
        const aliceCounted = restarted.election.hasVoted("Alice");
        const where = `crash after ${crashAt} of ${commitOps} operations`;
        if (acknowledged) {
          assert.ok(aliceCounted, `${where}: an acknowledged vote was lost`);
        }
        if (aliceCounted) {
          assert.equal(
            after.result,
            earlierVote ? "Chris 1\nLinda 1\n" : "Chris 1\nLinda 0\n",
            where,
          );
          assert.match(after.history, /Alice 2026-\S+\n$/, where);
        } else {
          assert.deepEqual(
            after,
            before,
            `${where}: files differ from before the vote`,
          );
        }
        assert.equal(after.journal, undefined, `${where}: journal left behind`);
        assert.deepEqual((await inspectElection(dir)).problems, [], where);
        const expected = aliceCounted ? "already-voted" : "recorded";
        assert.equal(await restarted.recordVote("Alice", 2), expected, where);
      }
    },
  );
}

Deno.test("a write failure refuses the vote, changes no file, and the store keeps serving", async () => {
  const dir = await newElection();
  await (await ElectionStore.open(dir)).recordVote("Bob", 2);
  let failing: "append" | "result" | "journal" | undefined;
  const diskFull = () =>
    Promise.reject(new Error("No space left on device (os error 28)"));
  const ops: FileOps = {
    ...denoFileOps,
    appendSynced: (path, text) =>
      failing === "append" ? diskFull() : denoFileOps.appendSynced(path, text),
    writeSynced: (path, text) =>
      (failing === "result" && path.endsWith("result.tmp")) ||
        (failing === "journal" && path.endsWith("journal.tmp"))
        ? diskFull()
        : denoFileOps.writeSynced(path, text),
  };
  const store = await ElectionStore.open(dir, { ops });
  const before = await snapshot(dir);
  for (const where of ["journal", "append", "result"] as const) {
    failing = where;
    await assert.rejects(store.recordVote("Alice", 1), (error: Error) => {
      assert.ok(error instanceof StorageError);
      assert.match(error.message, /No space left on device/);
      return true;
    });
    assert.deepEqual(
      await snapshot(dir),
      before,
      `files changed after a failed ${where}`,
    );
    assert.equal(store.election.hasVoted("Alice"), false);
  }
  failing = undefined;
  assert.equal(await store.recordVote("Alice", 1), "recorded");
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 1\nLinda 1\n",
  );
});

Deno.test("a failed rollback is finished before the next commit writes anything", async () => {
  const dir = await newElection();
  let broken = false;
  const ops: FileOps = {
    ...denoFileOps,
    remove: (path) =>
      broken && path.endsWith("journal")
        ? Promise.reject(new Error("Input/output error (os error 5)"))
        : denoFileOps.remove(path),
  };
  const store = await ElectionStore.open(dir, { ops });
  broken = true; // the commit and its rollback both fail to remove the journal
  await assert.rejects(store.recordVote("Tom", 1), StorageError);
  assert.ok(
    (await snapshot(dir)).journal !== undefined,
    "the journal stays for recovery",
  );
  broken = false;
  assert.equal(await store.recordVote("Alice", 2), "recorded");
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 0\nLinda 1\n",
  );
  assert.equal(store.election.hasVoted("Tom"), false);
  assert.deepEqual((await inspectElection(dir)).problems, []);
});
