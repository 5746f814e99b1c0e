/**
 * A database election's K lives in a `symkey` file of the official's
 * choosing: every command that reads it checks it against the election, and
 * no file command may destroy the only copy.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { lines, serverTlsFlags } from "./helpers.ts";
import { refusal } from "./server_commands.ts";
import {
  initDatabaseElection,
  runServerOk,
  testDatabase,
} from "./postgres_helpers.ts";

Deno.test("serve, passwd, verify and export refuse another election's symkey with one line and change nothing", async () => {
  await using db = await testDatabase();
  const right = join(db.dir, "right");
  const wrong = join(db.dir, "wrong");
  await runServerOk(["init", ...db.flags(right)]);
  // Another (file) election's key: the default data/ of a busy official.
  await runServerOk(["init", "--data", wrong]);
  const message = new RegExp(
    `^"${wrong}/symkey" is not this election's key: pass --data with the directory init named`,
  );
  const [{ sealed: before }] = await db
    .sql`SELECT sealed FROM booth.voters WHERE name = 'Bob'`;

  // One line each on stderr, nothing on stdout: no line per voter from
  // verify, no password from passwd.
  const wrongKey = db.flags(wrong);
  const out = join(db.dir, "export");
  for (
    const args of [
      ["passwd", ...wrongKey, "--voter", "Bob"],
      ["verify", ...wrongKey],
      ["export", ...wrongKey, "--to", out],
    ]
  ) {
    assert.match(await refusal(1, args), message, args[0]);
  }
  const [{ sealed: after }] = await db
    .sql`SELECT sealed FROM booth.voters WHERE name = 'Bob'`;
  assert.deepEqual(after, before, "Bob's password is kept");
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);

  // Last: a booth that wrongly accepted K would not exit.
  assert.match(
    await refusal(1, [
      "serve",
      ...wrongKey,
      ...await serverTlsFlags(),
      "--port",
      "0",
    ]),
    message,
  );
  const [{ booths }] = await db
    .sql`SELECT count(*)::int AS booths FROM booth.servers`;
  assert.equal(booths, 0, "the refused booth never announced itself");

  // The right key passes every check.
  const verified = await runServerOk([
    "verify",
    ...db.flags(right),
  ]);
  assert.deepEqual(lines(verified.stdout), ["turnout 0/3", "consistent"]);
});

Deno.test("init --from stores the check of the moved key: its directory verifies, another's is refused", async () => {
  await using db = await testDatabase();
  const original = join(db.dir, "original");
  const other = join(db.dir, "other");
  await runServerOk(["init", "--data", original]);
  await runServerOk(["init", "--data", other]);
  await runServerOk(["init", "--database", db.url, "--from", original]);
  const verified = await runServerOk([
    "verify",
    ...db.flags(original),
  ]);
  assert.deepEqual(lines(verified.stdout), ["turnout 0/3", "consistent"]);
  assert.match(
    await refusal(1, ["verify", ...db.flags(other)]),
    /^"[^"]*other\/symkey" is not this election's key/,
  );
});

Deno.test("a database election's key is never replaced by a file init, even with --force, nor shared with a file election or another database", async () => {
  await using db = await testDatabase();
  await using other = await testDatabase();
  const files = join(db.dir, "files");
  await runServerOk(["init", "--data", files]);
  const fileKey = await Deno.readTextFile(join(files, "symkey"));
  assert.match(
    await refusal(1, ["init", ...db.flags(files)]),
    /^.*\/files\/ holds a file election: choose another --data for the key of the election in the database "postgres:\/\/booth@[^"]+" \(`init --database URL --from .*\/files` moves that election instead\)$/,
  );
  assert.equal(await Deno.readTextFile(join(files, "symkey")), fileKey);
  const [{ exists }] = await db.sql`
    SELECT to_regclass('booth.election') IS NOT NULL AS exists`;
  assert.equal(exists, false, "no election was written under a shared key");

  const keyDir = await initDatabaseElection(db);
  const key = await Deno.readTextFile(join(keyDir, "symkey"));
  for (const force of [[], ["--force"]]) {
    assert.match(
      await refusal(1, ["init", "--data", keyDir, ...force]),
      /^Refusing to create an election in [^\n]*\/data\/: "[^"]*\/data\/symkey" is the key of the election in the database "postgres:\/\/booth@[^"]+", and --force does not replace it: choose another --data/,
    );
  }
  assert.match(
    await refusal(1, [
      "serve",
      "--data",
      keyDir,
      ...await serverTlsFlags(),
      "--port",
      "0",
    ]),
    /^.*\/data\/ holds only the key of the election in the database "postgres:\/\/booth@[^"]+", not a file election: add --database URL \(with --data .*\/data\)$/,
  );
  assert.match(
    await refusal(1, ["init", ...other.flags(keyDir)]),
    /^"[^"]*\/data\/symkey" is the key of the election in the database "[^"]+": choose another --data for the key of the election in the database "[^"]+"$/,
  );
  // Re-creating the same database's election keeps its key.
  await runServerOk(["init", ...db.flags(keyDir), "--force"]);
  assert.equal(await Deno.readTextFile(join(keyDir, "symkey")), key);
  const verified = await runServerOk([
    "verify",
    ...db.flags(keyDir),
  ]);
  assert.deepEqual(lines(verified.stdout), ["turnout 0/3", "consistent"]);
});
