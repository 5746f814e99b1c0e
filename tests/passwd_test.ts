/**
 * `server passwd`: a new password replaces the old only once the official
 * has it, and two resets at once both take effect. The race runs in this
 * process on injected file operations; the output failures run the real
 * `server` command.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createElection } from "../lib/store/create_election.ts";
import { readElectionKey } from "../lib/store/election_state.ts";
import { denoFileOps } from "../lib/store/file_ops.ts";
import type { FileOps } from "../lib/store/file_ops.ts";
import { changeVoterPassword } from "../lib/store/officials.ts";
import { parsePasswords } from "../lib/election/election_files.ts";
import { passwordMatches } from "../lib/election/crypto.ts";
import { decodedOutput, programArgs } from "../tools/processes.ts";
import { lines } from "./helpers.ts";
import { initElectionIn } from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

const SEED = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
  { name: "Tom", number: "1154571", password: "9012" },
];

Deno.test("two passwd at once both take effect: the second reads the voter file once the first has replaced it", async () => {
  await using temp = await tempDir("booth-passwd-");
  const dir = join(temp.path, "data");
  await createElection(dir, { voters: SEED, candidates: ["Chris", "Linda"] });
  const firstWriting = Promise.withResolvers<void>();
  const releaseFirst = Promise.withResolvers<void>();
  const firstOps = denoFileOps();
  const first = changeVoterPassword(dir, "Alice", "alice-new", {
    ops: {
      ...firstOps,
      async writeSynced(path, text) {
        firstWriting.resolve();
        await releaseFirst.promise;
        await firstOps.writeSynced(path, text);
      },
    },
  });
  await firstWriting.promise;
  const secondRefused = Promise.withResolvers<void>();
  const secondOps = denoFileOps();
  const waiting: FileOps = {
    ...secondOps,
    async lock(path) {
      const locked = await secondOps.lock(path);
      if (!locked) secondRefused.resolve();
      return locked;
    },
  };
  const second = changeVoterPassword(dir, "Bob", "bob-new", { ops: waiting });
  await secondRefused.promise;
  releaseFirst.resolve();
  await Promise.all([first, second]);
  const key = await readElectionKey(dir);
  const voters = parsePasswords(
    await Deno.readTextFile(join(dir, "passwords")),
    "passwords",
  );
  for (
    const [name, password] of [
      ["Alice", "alice-new"],
      ["Bob", "bob-new"],
      ["Tom", "9012"],
    ]
  ) {
    const voter = voters.find((entry) => entry.name === name)!;
    assert.ok(
      passwordMatches(key, voter, voter.sealed, password),
      `${name}'s password is "${password}"`,
    );
  }
});

/** `server passwd` for Bob with its standard output sent where `redirect` says. */
async function passwdTo(data: string, redirect: string) {
  return decodedOutput(
    await new Deno.Command("bash", {
      args: [
        "-c",
        `exec "$@" ${redirect}`,
        "bash",
        Deno.execPath(),
        ...programArgs("server", ["passwd", "--data", data, "--voter", "Bob"]),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output(),
  );
}

Deno.test("passwd changes nothing when the new password cannot be shown: stdout full, closed or discarded", async () => {
  await using temp = await tempDir("booth-passwd-");
  const data = await initElectionIn(temp.path);
  const before = await Deno.readTextFile(join(data, "passwords"));
  for (
    const [redirect, why] of [
      [
        ">/dev/full",
        /^Cannot write the new password of "Bob" to standard output: No space left on device \(os error 28\); the password was not changed$/,
      ],
      [
        ">&-",
        /^Refusing to print the new password of "Bob" to \/dev\/null \(standard output is closed or discarded\): it would be lost; redirect it to a file or use --credentials FILE$/,
      ],
      [
        ">/dev/null",
        /^Refusing to print the new password of "Bob" to \/dev\/null/,
      ],
    ] as const
  ) {
    const out = await passwdTo(data, redirect);
    assert.equal(out.code, 1, redirect);
    assert.equal(lines(out.stderr).length, 1, out.stderr);
    assert.match(out.stderr.trim(), why);
    assert.equal(
      await Deno.readTextFile(join(data, "passwords")),
      before,
      `the password changed with stdout ${redirect}`,
    );
  }
  const shown = await passwdTo(data, "");
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^Bob 1138765 \S+\n$/);
  assert.notEqual(await Deno.readTextFile(join(data, "passwords")), before);
});
