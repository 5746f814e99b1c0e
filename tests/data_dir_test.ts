/**
 * The data directory cannot be turned against the server: links are
 * refused by name, the directory and key files must be private and the
 * server's own, the one-server rule survives deleting files, and a rollback
 * at start-up says what it undid. Run with the real `server` program; the
 * ownership test needs root, as the full-disk test does.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { formatJournal } from "../lib/election/journal_format.ts";
import { lines, runProgram, startServer } from "./helpers.ts";
import { initElectionIn, refusedServe } from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

/** The seed's election, created by `server init` in a temporary directory. */
async function newElection(): Promise<{ data: string } & AsyncDisposable> {
  const temp = await tempDir("booth-datadir-");
  const data = await initElectionIn(temp.path);
  return { data, [Symbol.asyncDispose]: () => temp[Symbol.asyncDispose]() };
}

for (const name of ["journal", "result", "history", "symkey"]) {
  Deno.test(`a link as ${name} is refused by name, and the file it points to is untouched`, async () => {
    await using election = await newElection();
    const outside = join(election.data, "..", "precious");
    await Deno.writeTextFile(outside, "precious\n");
    const link = join(election.data, name);
    await Deno.remove(link).catch(() => {});
    await Deno.symlink(outside, link);
    assert.equal(
      await refusedServe(election.data),
      `Refusing to use "${link}": it is a symbolic link to "${outside}"; election files must be regular files, never links`,
    );
    assert.equal(await Deno.readTextFile(outside), "precious\n");
  });
}

Deno.test("init --force refuses a link planted as symkey.tmp, so K is never written through it", async () => {
  await using election = await newElection();
  const outside = join(election.data, "..", "world-readable");
  await Deno.writeTextFile(outside, "", { mode: 0o644 });
  const link = join(election.data, "symkey.tmp");
  await Deno.symlink(outside, link);
  const symkey = await Deno.readTextFile(join(election.data, "symkey"));
  const init = await runProgram("server", [
    "init",
    "--force",
    "--data",
    election.data,
  ]);
  assert.equal(init.code, 1);
  assert.deepEqual(lines(init.stderr), [
    `Refusing to use "${link}": it is a symbolic link to "${outside}"; election files must be regular files, never links`,
  ]);
  assert.equal(await Deno.readTextFile(outside), "");
  assert.equal(await Deno.readTextFile(join(election.data, "symkey")), symkey);
});

Deno.test("init makes the directory 0700, and the server refuses one that group or others can enter, with the chmod that fixes it", async () => {
  await using temp = await tempDir("booth-datadir-");
  const data = join(temp.path, "data");
  // As git leaves `data/` for its README: there already, mode 0755.
  await Deno.mkdir(data);
  await Deno.chmod(data, 0o755);
  const init = await runProgram("server", ["init", "--data", data]);
  assert.equal(init.code, 0, init.stderr);
  assert.equal((await Deno.stat(data)).mode! & 0o777, 0o700);
  for (const mode of [0o750, 0o705, 0o701]) {
    await Deno.chmod(data, mode);
    assert.equal(
      await refusedServe(data),
      `Refusing to open the election: election directory "${data}" is accessible by group or others (mode 0${
        mode.toString(8)
      }); run chmod 700 "${data}"`,
    );
    await assert.rejects(
      Deno.lstat(join(data, "journal")),
      Deno.errors.NotFound,
      "nothing is written before the checks",
    );
  }
});

Deno.test("key files and the directory must belong to the server's user, checked before anything is written (root)", async () => {
  await using election = await newElection();
  const nobody = 65534;
  for (
    const [name, what] of [["symkey", "key file"], ["passwords", "voter file"]]
  ) {
    const path = join(election.data, name);
    await Deno.chown(path, nobody, nobody);
    assert.equal(
      await refusedServe(election.data),
      `Refusing to use ${what} "${path}": it belongs to uid ${nobody}, not to this user (uid ${Deno.uid()}); run chown ${Deno.uid()} "${path}"`,
    );
    await assert.rejects(
      Deno.lstat(join(election.data, "journal")),
      Deno.errors.NotFound,
    );
    await Deno.chown(path, Deno.uid(), Deno.gid());
  }
  await Deno.chown(election.data, nobody, nobody);
  assert.equal(
    await refusedServe(election.data),
    `Refusing to open the election: election directory "${election.data}" belongs to uid ${nobody}, not to this user (uid ${Deno.uid()}); run chown -R ${Deno.uid()} "${election.data}"`,
  );
});

Deno.test("init refuses a directory another user owns, as the server would, before writing anything (root)", async () => {
  await using temp = await tempDir("booth-datadir-");
  const data = join(temp.path, "data");
  await Deno.mkdir(data, { mode: 0o700 });
  const nobody = 65534;
  await Deno.chown(data, nobody, nobody);
  for (const force of [[], ["--force"]]) {
    const init = await runProgram("server", ["init", "--data", data, ...force]);
    assert.deepEqual([init.code, lines(init.stderr)], [1, [
      `Refusing to create the election: election directory "${data}" belongs to uid ${nobody}, not to this user (uid ${Deno.uid()}); run chown -R ${Deno.uid()} "${data}"`,
    ]]);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(data)), []);
  }
});

Deno.test("the one-server rule survives deleting every file but the election's own: the lock is on the directory", async () => {
  await using election = await newElection();
  const first = await startServer(election.data);
  try {
    const own = new Set([
      "symkey",
      "passwords",
      "candidates",
      "result",
      "journal",
    ]);
    for await (const entry of Deno.readDir(election.data)) {
      if (!own.has(entry.name)) {
        await Deno.remove(join(election.data, entry.name));
      }
    }
    assert.equal(
      await refusedServe(election.data),
      `Another server is serving the election in ${election.data}/: stop it first (only one process may write an election)`,
    );
  } finally {
    assert.equal(await first.stop(), 0);
  }
});

Deno.test("a journal rolled back at start-up is logged with what it undid, never who or for whom", async () => {
  await using election = await newElection();
  const { data } = election;
  // A commit of Bob's vote interrupted after history and result changed:
  // the journal still holds the state after Alice's vote.
  const alice = "Alice 2026-11-26T03:40:12Z\n";
  await Deno.writeTextFile(
    join(data, "history"),
    `${alice}Bob 2026-11-26T03:41:07Z\n`,
    { mode: 0o600 },
  );
  await Deno.writeTextFile(join(data, "result"), "Chris 1\nLinda 1\n");
  await Deno.writeTextFile(
    join(data, "journal"),
    formatJournal(
      { historyBytes: alice.length, result: "Chris 1\nLinda 0\n" },
      0,
    ),
    { mode: 0o600 },
  );
  const server = await startServer(data);
  let log: string;
  try {
    log = server.stderr();
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const rollback = lines(log).filter((line) => line.includes("rolled back"));
  assert.equal(rollback.length, 1, log);
  assert.match(
    rollback[0],
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ rolled back an interrupted vote: 1 vote \(25 bytes\) cut from history, result restored$/,
  );
  assert.match(log, /turnout 1\/3/);
  assert.equal(await Deno.readTextFile(join(data, "history")), alice);
  assert.equal(
    await Deno.readTextFile(join(data, "result")),
    "Chris 1\nLinda 0\n",
  );
});
