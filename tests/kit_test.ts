/**
 * The voter's kit: `server kit` writes election.json and README.txt from the
 * files `make certs` makes, the real client finds its election without flags
 * and votes, and `make build ELECTION=...` builds the kit in.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ALICE,
  assertPrinted,
  BALLOT,
  certFlags,
  initElection,
  lines,
  LOGIN_PROMPTS,
  makeCerts,
  MENU,
  ROOT,
  runBuildTool,
  runProgram,
  startServer,
  typed,
} from "./helpers.ts";
import type { ServerProcess } from "./helpers.ts";
import {
  EMBEDDED_KIT_PATH,
  formatElectionKit,
  parseElectionKit,
} from "../lib/election/kit.ts";
import type { ElectionKit } from "../lib/election/kit.ts";
import {
  ElectionFileUnusableError,
  findElection,
} from "../lib/client/find_election.ts";
import { compileCommands } from "../tools/build.ts";
import { kit } from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

/**
 * A server with the given certificates on a fresh election; disposing of it
 * stops it and removes the election.
 */
async function kitServer(certs: string) {
  const data = await initElection();
  const server: ServerProcess = await startServer(data, certFlags(certs));
  let disposed = false;
  return {
    server,
    async [Symbol.asyncDispose]() {
      if (disposed) return;
      disposed = true;
      await server.stop();
      await Deno.remove(join(data, ".."), { recursive: true });
    },
  };
}

/** The kit of the test's election at `localhost:port`. */
function studentCouncilKit(certs: string, out: string, port: number) {
  return kit(
    certs,
    out,
    "--host",
    "localhost",
    "--port",
    String(port),
    "--name",
    "Student council 2026",
  );
}

Deno.test("server kit writes election.json (name, host, port, CA, nothing secret) and a three-line README.txt", async () => {
  await using dir = await tempDir("booth-kit-");
  const certs = await makeCerts(join(dir.path, "certs"));
  const out = join(dir.path, "kit");
  const made = await studentCouncilKit(certs, out, 5443);
  assert.equal(made.code, 0, made.stderr);
  assert.equal(
    made.stdout,
    `wrote ${out}/election.json and ${out}/README.txt: Student council 2026 (localhost:5443)\n`,
  );
  const text = await Deno.readTextFile(join(out, "election.json"));
  const json = JSON.parse(text);
  assert.deepEqual(Object.keys(json), ["name", "host", "port", "ca"]);
  const ca = await Deno.readTextFile(join(certs, "ca.crt"));
  assert.deepEqual(json, {
    name: "Student council 2026",
    host: "localhost",
    port: 5443,
    ca,
  });
  assert.doesNotMatch(text, /PRIVATE KEY/);
  assert.equal(
    (await Deno.stat(join(out, "election.json"))).mode! & 0o777,
    0o644,
  );
  const readme = lines(await Deno.readTextFile(join(out, "README.txt")));
  assert.equal(readme.length, 3);
  assert.match(readme[0], /election-client.*election\.json.*localhost:5443/);
  assert.match(readme[1], /sha256sum --check --ignore-missing SHA256SUMS/);
  assert.match(readme[2], /name, registration number and password/);
});

Deno.test("server kit refuses a host the certificate does not cover and a CA that did not sign it, writing nothing", async () => {
  await using dir = await tempDir("booth-kit-");
  const certs = await makeCerts(join(dir.path, "certs"));
  const other = await makeCerts(join(dir.path, "other"));
  const out = join(dir.path, "kit");
  const wrongHost = await kit(certs, out, "--host", "vote.example.org");
  assert.equal(wrongHost.code, 1);
  assert.deepEqual(lines(wrongHost.stderr), [
    `Refusing to make the kit: the certificate "${certs}/server.crt" does not cover the host "vote.example.org" (it covers DNS:localhost, IP Address:127.0.0.1, IP Address:::1)`,
  ]);
  const wrongCa = await kit(
    certs,
    out,
    "--host",
    "localhost",
    "--ca",
    join(other, "ca.crt"),
  );
  assert.equal(wrongCa.code, 1);
  assert.deepEqual(lines(wrongCa.stderr), [
    `Refusing to make the kit: the certificate "${certs}/server.crt" is not signed by the CA "${other}/ca.crt"`,
  ]);
  const noHost = await kit(certs, out);
  assert.equal(noHost.code, 2);
  assert.deepEqual(lines(noHost.stderr), [
    'Option "--host" is required (see --help)',
  ]);
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("a voter with only election.json in an empty directory, typing name, number and password, logs in and votes", async () => {
  await using dir = await tempDir("booth-kit-");
  const certs = await makeCerts(join(dir.path, "certs"));
  await using running = await kitServer(certs);
  const { server } = running;
  {
    const voterDir = join(dir.path, "voter");
    const made = await studentCouncilKit(certs, voterDir, server.port);
    assert.equal(made.code, 0, made.stderr);
    await Deno.remove(join(voterDir, "README.txt"));
    assert.deepEqual(
      [...Deno.readDirSync(voterDir)].map((entry) => entry.name),
      ["election.json"],
    );
    const out = await runProgram("client", [], {
      cwd: voterDir,
      stdin: typed([...ALICE, "1", "2", "4"]),
    });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stderr, "");
    assert.deepEqual(lines(out.stdout), [
      `Student council 2026 (localhost:${server.port})`,
      ...LOGIN_PROMPTS,
      "Welcome Alice!",
      ...MENU,
      ...BALLOT,
      "Your vote has been recorded.",
      ...MENU,
    ]);
  }
  await running[Symbol.asyncDispose](); // the log is complete once stopped
  assert.match(server.stderr(), /vote recorded: Alice/);
  // The booth is down: the voter is told what a voter can do.
  const down = await runProgram("client", [], {
    cwd: join(dir.path, "voter"),
    stdin: typed(ALICE),
  });
  assert.equal(down.code, 1);
  assert.equal(
    lines(down.stderr).at(-1),
    `Cannot connect to localhost:${server.port}: connection refused (the booth is not reachable: try again later, or ask the election official)`,
  );
});

Deno.test("the client's election: --election first, then ./election.json; flags override it; none keeps the defaults", async () => {
  await using dir = await tempDir("booth-kit-");
  const certs = await makeCerts(join(dir.path, "certs"));
  const other = await makeCerts(join(dir.path, "other"));
  await using running = await kitServer(certs);
  const { server } = running;
  const ca = await Deno.readTextFile(join(certs, "ca.crt"));
  const kit = (name: string, port = server.port): string =>
    formatElectionKit({ name, host: "localhost", port, ca });
  const voterDir = join(dir.path, "voter");
  await Deno.mkdir(voterDir);
  const elsewhere = join(dir.path, "elsewhere.json");
  const client = (args: string[], cwd = voterDir) =>
    runProgram("client", args, { cwd, stdin: "" });
  {
    await Deno.writeTextFile(join(voterDir, "election.json"), kit("Here"));
    await Deno.writeTextFile(elsewhere, kit("Elsewhere"));

    const found = await client([]);
    assert.equal(found.code, 0, found.stderr);
    assert.equal(lines(found.stdout)[0], `Here (localhost:${server.port})`);

    const named = await client(["--election", elsewhere]);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(
      lines(named.stdout)[0],
      `Elsewhere (localhost:${server.port})`,
    );

    // The kit's port is wrong; --port puts it right.
    await Deno.writeTextFile(join(voterDir, "election.json"), kit("Here", 1));
    const port = await client(["--port", String(server.port)]);
    assert.equal(port.code, 0, port.stderr);
    assert.equal(lines(port.stdout)[0], `Here (localhost:${server.port})`);

    const otherCa = await client([
      "--port",
      String(server.port),
      "--ca",
      join(other, "ca.crt"),
    ]);
    assert.equal(otherCa.code, 1);
    assert.deepEqual(lines(otherCa.stderr), [
      `Refusing the server's certificate: it is not signed by the CA in "${other}/ca.crt"; nothing was sent`,
    ]);

    // No election file: today's defaults, certs/ca.crt and localhost:4443.
    const empty = join(dir.path, "empty");
    await Deno.mkdir(empty);
    const none = await client([], empty);
    assert.equal(none.code, 1);
    assert.equal(none.stdout, "");
    assert.match(
      none.stderr,
      /^Cannot read CA certificate "certs\/ca\.crt": it does not exist/,
    );
  }
});

Deno.test("a broken election.json is one line naming the file and the problem, exit 2", async () => {
  await using dir = await tempDir("booth-kit-");
  const certs = await makeCerts(join(dir.path, "certs"));
  const ca = await Deno.readTextFile(join(certs, "ca.crt"));
  const good = { name: "Student council 2026", host: "localhost", port: 4443 };
  const cases: [string, string][] = [
    ["{ not json", "it is not valid JSON"],
    ["[1, 2]", "it is not a JSON object"],
    [JSON.stringify({ ...good }), '"ca" is missing'],
    [JSON.stringify({ ...good, host: undefined, ca }), '"host" is missing'],
    [
      JSON.stringify({ ...good, port: "4443", ca }),
      '"port" is not a whole number from 1 to 65535',
    ],
    [
      JSON.stringify({ ...good, port: 70000, ca }),
      '"port" is not a whole number from 1 to 65535',
    ],
    [
      JSON.stringify({ ...good, host: "a b", ca }),
      '"host" is not valid: it is not a host name or IP address',
    ],
    [
      JSON.stringify({ ...good, name: "Vote\u202e", ca }),
      '"name" is not valid: it contains control or format characters',
    ],
    [
      JSON.stringify({
        ...good,
        ca: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      }),
      '"ca" is not a PEM certificate',
    ],
  ];
  for (const [text, problem] of cases) {
    const path = join(dir.path, "election.json");
    await Deno.writeTextFile(path, text);
    const out = await runProgram("client", [], { cwd: dir.path, stdin: "" });
    assert.equal(out.code, 2, problem);
    assert.equal(out.stdout, "", problem);
    assert.deepEqual(lines(out.stderr), [
      `Cannot use election file "${path}": ${problem}`,
    ]);
  }
  const missing = await runProgram("client", [
    "--election",
    join(dir.path, "nowhere.json"),
  ], { stdin: "" });
  assert.equal(missing.code, 2);
  assert.deepEqual(lines(missing.stderr), [
    `Cannot read election file "${dir.path}/nowhere.json": it does not exist`,
  ]);
});

async function kitPlaces(root: string) {
  const certs = await makeCerts(join(root, "certs"));
  const ca = await Deno.readTextFile(join(certs, "ca.crt"));
  const write = async (folder: string, name: string) => {
    await Deno.mkdir(join(root, folder), { recursive: true });
    const path = join(root, folder, "election.json");
    const kit: ElectionKit = { name, host: "localhost", port: 4443, ca };
    await Deno.writeTextFile(path, formatElectionKit(kit));
    return path;
  };
  const cwd = join(root, "cwd");
  await Deno.mkdir(cwd);
  return {
    write,
    places: {
      cwd,
      executable: join(root, "bin", "election-client"),
      embedded: join(root, "embedded", "election.json"),
    },
  };
}

Deno.test("without a built-in kit the client looks in the working directory, then next to the executable; --election wins", async () => {
  await using dir = await tempDir("booth-kit-");
  const { write, places } = await kitPlaces(dir.path);
  const nameFound = async () => (await findElection(places))?.kit.name;
  assert.equal(await nameFound(), undefined);
  await write("bin", "Next to the program");
  assert.equal(await nameFound(), "Next to the program");
  await write("cwd", "Working directory");
  const found = await findElection(places);
  assert.deepEqual([found?.path, found?.ignored], [
    join(places.cwd, "election.json"),
    [],
  ]);
  assert.equal(await nameFound(), "Working directory");
  const explicit = await write("explicit", "Named");
  assert.equal(
    (await findElection({ ...places, explicit }))?.kit.name,
    "Named",
  );
  await assert.rejects(
    findElection({ ...places, explicit: join(dir.path, "nowhere.json") }),
    ElectionFileUnusableError,
  );
  assert.equal(
    await findElection({ cwd: join(dir.path, "bin", "x") }),
    undefined,
  );
  assert.equal(
    parseElectionKit(await Deno.readTextFile(explicit)).name,
    "Named",
  );
});

Deno.test("a built-in kit beats a planted election.json, which is ignored and named; only --election overrides it", async () => {
  await using dir = await tempDir("booth-kit-");
  const { write, places } = await kitPlaces(dir.path);
  await write("embedded", "Built in");
  assert.deepEqual(
    [
      (await findElection(places))?.kit.name,
      (await findElection(places))?.ignored,
    ],
    ["Built in", []],
  );
  const planted = await write("cwd", "Planted in Downloads");
  const beside = await write("bin", "Next to the program");
  const found = await findElection(places);
  assert.equal(found?.kit.name, "Built in");
  assert.equal(found?.path, places.embedded);
  assert.deepEqual(found?.ignored, [planted, beside]);
  await Deno.writeTextFile(planted, "not json");
  assert.deepEqual(
    (await findElection(places))?.ignored,
    [planted, beside],
    "a broken planted file is ignored too, not a reason to refuse",
  );
  await Deno.copyFile(places.embedded, planted);
  await Deno.copyFile(places.embedded, beside);
  assert.deepEqual(
    (await findElection(places))?.ignored,
    [],
    "a copy of the built-in kit beside it is no news",
  );
  assert.equal(
    (await findElection({ ...places, explicit: await write("x", "Named") }))
      ?.kit.name,
    "Named",
  );
});

Deno.test("make build ELECTION=... includes the checked kit in the client only; a broken kit stops the build", async () => {
  await using dir = await tempDir("booth-kit-");
  const config = await Deno.readTextFile(join(ROOT, "deno.json"));
  const [server, client] = compileCommands(config, { election: true });
  assert.ok(!server.includes("--include"));
  const at = client.indexOf("--include");
  assert.ok(at > 0, client.join(" "));
  assert.equal(client[at + 1], EMBEDDED_KIT_PATH);
  assert.equal(client.at(-1), "client.ts");

  const certs = await makeCerts(join(dir.path, "certs"));
  const kit = join(dir.path, "election.json");
  await Deno.writeTextFile(
    kit,
    formatElectionKit({
      name: "Student council 2026",
      host: "localhost",
      port: 4443,
      ca: await Deno.readTextFile(join(certs, "ca.crt")),
    }),
  );
  const build = (election: string) =>
    runBuildTool(["--dry-run", "--election", election]);
  const dry = await build(kit);
  assertPrinted(dry, [
    `deno ${server.join(" ")}`,
    `deno ${client.join(" ")}`,
  ]);

  await Deno.writeTextFile(kit, "{}");
  const broken = await build(kit);
  assert.equal(broken.code, 2);
  assert.equal(broken.stdout, "");
  assert.deepEqual(lines(broken.stderr), [
    `Cannot use election file "${kit}": "name" is missing`,
  ]);
});
