/**
 * The command line on PostgreSQL: `init --database`, `init --from`,
 * `verify --database` and `export`, against a real server, with the URL's
 * password in no output.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { parseDatabaseUrl } from "../lib/store/postgres_connection.ts";
import { PostgresStore } from "../lib/store/postgres_store.ts";
import {
  ALICE,
  certFlags,
  lines,
  runClient,
  runProgram,
  startServer,
  testCerts,
} from "./helpers.ts";
import type { Output } from "./helpers.ts";
import {
  databaseFlags,
  exportInto,
  initDatabaseElection,
  runServerOk,
  testDatabase,
} from "./postgres_helpers.ts";
import { EXPORTED_FILES, refusal } from "./server_commands.ts";

Deno.test("init --database creates the election, K only in DIR/symkey, and never replaces it without --force", async () => {
  await using db = await testDatabase();
  const data = join(db.dir, "data");
  const out = await runServerOk(["init", ...db.flags(data)]);
  assert.match(out.stdout, /3 voters, 2 candidates \(Chris, Linda\)/);
  const key = await Deno.readTextFile(join(data, "symkey"));
  assert.equal((await Deno.stat(join(data, "symkey"))).mode! & 0o777, 0o600);
  // K is in no table, in any encoding.
  const keyHex = Buffer.from(key.trim(), "base64").toString("hex");
  const [{ dump }] = await db.sql`
    SELECT (SELECT string_agg(encode(sealed, 'hex') || name || number, ',') FROM booth.voters)
        || (SELECT string_agg(name, ',') FROM booth.candidates) AS dump`;
  assert.ok(!dump.includes(keyHex) && !dump.includes(key.trim()));
  const [{ count }] = await db.sql`SELECT count(*)::int FROM booth.voters`;
  assert.equal(count, 3);

  const again = await runProgram("server", [
    "init",
    ...db.flags(data),
  ]);
  assert.equal(again.code, 1);
  assert.match(
    again.stderr,
    /^An election already exists in the database "postgres:\/\/booth@.*": use --force to replace it\n$/,
  );
  const forced = await runServerOk([
    "init",
    ...db.flags(data),
    "--candidates",
    "Ann,Ben,Cy",
    "--force",
  ]);
  assert.match(forced.stdout, /3 candidates \(Ann, Ben, Cy\)/);
  // The key in DIR is reused, so booths already holding it stay valid.
  assert.equal(await Deno.readTextFile(join(data, "symkey")), key);
});

Deno.test("init --database refuses two names a reader would take for one and writes nothing, nor replaces the election with --force", async () => {
  await using db = await testDatabase();
  const data = join(db.dir, "data");
  const cyrillicChris = "\u0421\u04bb\u0433\u0456\u0455";
  assert.equal(
    await refusal(2, [
      "init",
      ...db.flags(data),
      "--candidates",
      `Chris,${cyrillicChris}`,
    ]),
    `Option "--candidates": item 2 repeats candidate "Chris" as "${cyrillicChris}", which looks the same (see --help)`,
  );
  const [{ schema }] = await db.sql`
    SELECT count(*)::int AS schema FROM pg_namespace WHERE nspname = 'booth'`;
  assert.equal(schema, 0);
  await assert.rejects(Deno.stat(data), Deno.errors.NotFound);

  await initDatabaseElection(db);
  const roll = join(db.dir, "roll.txt");
  await Deno.writeTextFile(
    roll,
    `Chris 1123456 1234\n${cyrillicChris} 1138765 5678\n`,
  );
  assert.equal(
    await refusal(1, ["init", ...db.flags(data), "--voters", roll, "--force"]),
    `Cannot read voter roll "${roll}": line 2 repeats the name "Chris" of line 1 as "${cyrillicChris}", which looks the same`,
  );
  const names = await db.sql`SELECT name FROM booth.voters ORDER BY name`;
  assert.deepEqual(names.map((row) => row.name), ["Alice", "Bob", "Tom"]);
});

Deno.test("init --force is refused while a booth server is serving the election", async () => {
  await using db = await testDatabase();
  const data = await initDatabaseElection(db);
  {
    await using _booth = await PostgresStore.open(parseDatabaseUrl(db.url), {
      address: "booth-a:4443",
    });
    const refused = await runProgram("server", [
      "init",
      ...db.flags(data),
      "--force",
    ]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^Refusing to replace the election in ".*": 1 booth server\(s\) serving it \(booth-a:4443\); stop them first\n$/,
    );
  }
  // Once the booth has stopped, --force replaces the election.
  await runServerOk([
    "init",
    ...db.flags(data),
    "--force",
  ]);
});

Deno.test("export after init --from equals the original files byte for byte, and verify --data on it says consistent", async () => {
  await using db = await testDatabase();
  const original = join(db.dir, "original");
  await runServerOk(["init", "--data", original]);
  // Two votes, as the file store writes them.
  await Deno.writeTextFile(join(original, "result"), "Chris 1\nLinda 1\n");
  await Deno.writeTextFile(
    join(original, "history"),
    "Tom 2026-11-26T10:00:01Z\nAlice 2026-11-26T10:00:03Z\n",
    { mode: 0o600 },
  );
  const moved = await runServerOk([
    "init",
    "--database",
    db.url,
    "--from",
    original,
  ]);
  assert.match(moved.stdout, /3 voters, 2 votes/);
  const verified = await runProgram("server", [
    "verify",
    ...db.flags(original),
  ]);
  assert.deepEqual(
    [verified.code, lines(verified.stdout)],
    [0, ["turnout 2/3", "consistent"]],
  );
  const out = join(db.dir, "out");
  const exported = await exportInto(db.flags(original), out);
  assert.match(
    lines(exported.stdout)[1],
    /^.*\/out\/ holds K \(symkey\): keep it private, and serve it only once the database election is over/,
  );
  for (const file of EXPORTED_FILES) {
    assert.deepEqual(
      await Deno.readFile(join(out, file)),
      await Deno.readFile(join(original, file)),
      `${file} differs`,
    );
  }
  const check = await runProgram("server", ["verify", "--data", out]);
  assert.deepEqual(
    [check.code, lines(check.stdout)],
    [0, ["turnout 2/3", "consistent"]],
  );
  // An export never writes into a directory that holds something.
  const refused = await runProgram("server", [
    "export",
    ...db.flags(original),
    "--to",
    out,
  ]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /^Refusing to export into ".*": it is not empty/,
  );
});

Deno.test("verify --database reports a voter entry that does not authenticate under K and exits 1", async () => {
  await using db = await testDatabase();
  const data = await initDatabaseElection(db);
  await db.sql`
    UPDATE booth.voters SET sealed = (SELECT sealed FROM booth.voters WHERE name = 'Alice')
    WHERE name = 'Bob'`;
  const out = await runProgram("server", [
    "verify",
    ...db.flags(data),
  ]);
  assert.equal(out.code, 1);
  assert.deepEqual(lines(out.stdout), [
    "turnout 0/3",
    `Voter file "booth.voters": line 2 ("Bob") does not authenticate under the key in symkey`,
  ]);
});

Deno.test("the database URL's password appears in no output, and an unreachable database is one line", async () => {
  await using db = await testDatabase();
  const data = join(db.dir, "data");
  const outputs = [
    await runProgram("server", ["init", ...db.flags(data)]),
    await runProgram("server", ["init", ...db.flags(data)]),
    await runProgram("server", [
      "verify",
      ...db.flags(data),
    ]),
    await runProgram("server", [
      "export",
      ...db.flags(data),
      "--to",
      join(db.dir, "out"),
    ]),
  ];
  const refusals: Output[] = [];
  for (
    const { url, problem } of [
      {
        url: Object.assign(new URL(db.url), { password: "not-the-password" }),
        problem:
          /^Cannot use the database "postgres:\/\/booth@[^"]*": the database refused the login \(check the user and the password, in the URL or PGPASSWORD\)\n$/,
      },
      {
        url: Object.assign(new URL(db.url), { port: "1" }),
        problem:
          /^Cannot use the database "postgres:\/\/booth@127\.0\.0\.1:1\/[^"]*": connection refused\n$/,
      },
    ]
  ) {
    const out = await runProgram("server", [
      "verify",
      ...databaseFlags(url.href, data),
    ]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, problem);
    refusals.push(out);
  }
  const notUrl = await runProgram("server", [
    "verify",
    "--database",
    `mysql://booth:${db.password}@x/y`,
  ]);
  assert.equal(notUrl.code, 2);
  for (const out of [...outputs, ...refusals, notUrl]) {
    assert.ok(!out.stdout.includes(db.password), out.stdout);
    assert.ok(!out.stderr.includes(db.password), out.stderr);
    assert.ok(!out.stderr.includes("not-the-password"), out.stderr);
  }
});

Deno.test("the password may come from PGPASSWORD instead of the URL", async () => {
  await using db = await testDatabase();
  const bare = new URL(db.url);
  bare.password = "";
  const out = await runProgram(
    "server",
    ["init", ...databaseFlags(bare.href, join(db.dir, "data"))],
    { env: { PGPASSWORD: db.password } },
  );
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /created an election in the database/);
});

Deno.test("init --from refuses an election a file booth is serving, and the moved directory is never served or changed again", async () => {
  await using db = await testDatabase();
  const data = join(db.dir, "data");
  await runServerOk(["init", "--data", data]);
  const move = ["init", "--database", db.url, "--from", data];
  {
    await using booth = await startServer(data);
    const voted = await runClient(booth.port, [...ALICE, "1", "1", "4"]);
    assert.equal(voted.code, 0, voted.stderr);
    const refused = await runProgram("server", move);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^A server is serving the election in [^\n]*\/data\/: stop it first[^\n]*\n$/,
    );
  }
  // Nothing reached the database while the booth served: no --force needed.
  const moved = await runServerOk(move);
  assert.match(moved.stdout, /3 voters, 1 vote; .* is marked as moved/);
  const where =
    /^The election in [^\n]*\/data\/ was moved into the database postgres:\/\/booth@[^ ]+ at \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z: use --database [^\n]*\n$/;
  const certs = await testCerts();
  for (
    const args of [
      ["serve", "--data", data, "--port", "0", ...certFlags(certs)],
      ["passwd", "--data", data, "--voter", "Bob"],
      ["close", "--data", data],
      ["report", "--data", data],
      [...move, "--force"],
    ]
  ) {
    const out = await runProgram("server", args);
    assert.deepEqual([args[0], out.code], [args[0], 1], out.stderr);
    assert.match(out.stderr, where);
    assert.ok(!out.stderr.includes(db.password));
  }
  const verified = await runProgram("server", ["verify", "--data", data]);
  assert.equal(verified.code, 1);
  assert.match(lines(verified.stdout).at(-1)!, /was moved into the database/);
  // Alice's vote moved with the election: she cannot vote again there.
  const audit = await runServerOk(["verify", ...db.flags(data)]);
  assert.deepEqual(lines(audit.stdout), ["turnout 1/3", "consistent"]);
  // data/symkey is the database election's only K: no file init replaces
  // it, --force or not, and the key still verifies afterwards.
  for (const force of [[], ["--force"]]) {
    const init = await runProgram("server", ["init", "--data", data, ...force]);
    assert.equal(init.code, 1, init.stderr);
    assert.match(
      init.stderr,
      /^Refusing to create an election in [^\n]*\/data\/: "[^"]*\/data\/symkey" is the key of the election in the database "postgres:\/\/booth@[^"]+", and --force does not replace it: choose another --data \(remove [^\n]*\/data\/ yourself only once that election is over and exported\)\n$/,
    );
  }
  const after = await runServerOk(["verify", ...db.flags(data)]);
  assert.deepEqual(lines(after.stdout), ["turnout 1/3", "consistent"]);
});

Deno.test("an init --database that fails before writing leaves DIR as it was: a rerun with the right URL, or elsewhere, works", async () => {
  await using db = await testDatabase();
  const data = join(db.dir, "keys");
  const wrong = [
    Object.assign(new URL(db.url), { port: "1" }).href,
    Object.assign(new URL(db.url), { password: "not-the-password" }).href,
  ];
  for (const url of wrong) {
    assert.match(
      await refusal(1, ["init", "--database", url, "--data", data]),
      /^Cannot use the database "postgres:\/\/booth@[^"]+": /,
    );
    await assert.rejects(Deno.stat(data), Deno.errors.NotFound, url);
  }
  // An election that exists is refused without --force: a new DIR for it
  // gets no key either.
  await initDatabaseElection(db);
  assert.match(
    await refusal(1, ["init", ...db.flags(data)]),
    /^An election already exists in the database/,
  );
  await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
  await runServerOk(["init", ...db.flags(data), "--force"]);
  assert.ok((await Deno.stat(join(data, "symkey"))).isFile);
});
