/**
 * The command lines as a person meets them: help, versions, bad flags and
 * every error a person can cause or meet, each one plain line on stderr,
 * never a stack trace.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { compileCommands, TARGETS } from "../tools/build.ts";
import { formatFlags, parseFlags, UsageError } from "../lib/terminal/cli.ts";
import {
  ALICE,
  certFlags,
  clientFlags,
  initElection,
  lines,
  occurs,
  ROOT,
  runBuildTool,
  runClient,
  runProgram,
  startServer,
  testCerts,
  typingClient,
} from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";
import { EXPORTED_FILES, refusal } from "./server_commands.ts";

/** One plain line: no stack trace, no "error:" prefix from Deno. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const all = lines(stderr);
  assert.equal(all.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(all[0], pattern);
  assert.ok(!/^\s+at |Stack backtrace|Uncaught/m.test(stderr), stderr);
}

Deno.test("--help and -h of the server show every option of serve with its default, and the subcommands", async () => {
  for (const flag of ["--help", "-h"]) {
    const out = await runProgram("server", [flag]);
    assert.equal(out.code, 0);
    for (
      const option of [
        "--hostname HOST",
        "(default 127.0.0.1)",
        "--port PORT",
        "(default 4443)",
        "--data DIR",
        "--cert FILE",
        "--key FILE",
        "--tls-engine node|deno",
        "--login-grace SECONDS",
        "--idle-timeout SECONDS",
        "--max-connections N",
        "--lockout-threshold N",
        "--lockout-seconds S",
        "--quiet",
        "init [options]",
        "verify [options]",
        "kit [options]",
      ]
    ) {
      assert.ok(out.stdout.includes(option), `${flag} lacks ${option}`);
    }
  }
});

Deno.test("each server subcommand and the client have --help and --version", async () => {
  const cases: [("server" | "client"), string[], string[]][] = [
    ["server", ["serve", "--help"], ["--port PORT"]],
    ["server", ["init", "--help"], [
      "--data DIR",
      "--voters FILE",
      "--candidates A,B,...",
      "(default Chris,Linda)",
      "--force",
    ]],
    ["server", ["verify", "-h"], ["--data DIR", "(default data)"]],
    ["server", ["kit", "--help"], [
      "--host HOST",
      "--port PORT",
      "(default 4443)",
      "--cert FILE",
      "(default certs/server.crt)",
      "--ca FILE",
      "(default certs/ca.crt)",
      "--name NAME",
      "--out DIR",
    ]],
    ["client", ["--help"], [
      "--election FILE",
      "--host HOST",
      "else localhost)",
      "--port PORT",
      "else 4443)",
      "--ca FILE",
      "else certs/ca.crt)",
      "--timeout SECONDS",
      "(default 30)",
    ]],
  ];
  for (const [program, args, expected] of cases) {
    const out = await runProgram(program, args);
    assert.equal(out.code, 0, args.join(" "));
    for (const text of expected) {
      assert.ok(out.stdout.includes(text), `${args.join(" ")} lacks ${text}`);
    }
  }
  for (
    const [program, args] of [
      ["server", []],
      ["server", ["init"]],
      ["server", ["verify"]],
      ["server", ["serve"]],
      ["client", []],
    ] as const
  ) {
    const out = await runProgram(program, [...args, "--version"]);
    assert.equal(out.code, 0);
    assert.match(out.stdout, /^election-(server|client) \d+\.\d+\.\d+\n$/);
  }
});

Deno.test("a bad flag or value is one line naming it, pointing to --help, exit 2", async () => {
  const cases: [("server" | "client"), string[], RegExp][] = [
    ["server", ["--bogus"], /^Unknown option "--bogus" \(see --help\)$/],
    [
      "server",
      ["--port", "99999"],
      /^Option "--port" takes a whole number from 0 to 65535, not "99999" \(see --help\)$/,
    ],
    ["server", ["--port"], /^Option "--port" needs a value \(see --help\)$/],
    [
      "server",
      ["--tls-engine", "openssl"],
      /^Option "--tls-engine" takes node or deno, not "openssl" \(see --help\)$/,
    ],
    [
      "server",
      ["--login-grace", "soon"],
      /^Option "--login-grace" takes a whole number/,
    ],
    ["server", ["stray"], /^Unexpected argument "stray" \(see --help\)$/],
    [
      "server",
      ["init", "--candidates", "Ada,Ada"],
      /repeats candidate "Ada" \(see --help\)$/,
    ],
    [
      "server",
      ["verify", "--force"],
      /^Unknown option "--force" \(see --help\)$/,
    ],
    [
      "client",
      ["--port", "0"],
      /^Option "--port" takes a whole number from 1 to 65535, not "0" \(see --help\)$/,
    ],
    ["client", ["--insecure"], /^Unknown option "--insecure" \(see --help\)$/],
    [
      "client",
      ["--host", " "],
      /^Option "--host" takes a host name, not " " \(see --help\)$/,
    ],
    [
      "client",
      ["--host", ""],
      /^Option "--host" needs a value, not "" \(see --help\)$/,
    ],
  ];
  for (const [program, args, pattern] of cases) {
    const out = await runProgram(program, args);
    assert.equal(out.code, 2, `${program} ${args.join(" ")}: ${out.stderr}`);
    assertOneLine(out.stderr, pattern);
  }
});

Deno.test("the client when no server is running: connection refused, what to do next", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const out = await runClient(port, ALICE);
  assert.equal(out.code, 1);
  assertOneLine(
    out.stderr,
    new RegExp(
      `^Cannot connect to localhost:${port}: connection refused \\(is the server running\\? start it with \`make run\`\\)$`,
    ),
  );
});

Deno.test("the client when the connection is reset during the handshake", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const resetter = (async () => {
    const conn = await listener.accept();
    conn.close();
  })();
  const out = await runClient(port, ALICE);
  await resetter;
  listener.close();
  assert.equal(out.code, 1);
  assertOneLine(
    out.stderr,
    /^TLS handshake with localhost failed: the server closed the connection \(is this the booth's port\?\)$/,
  );
});

Deno.test("the client when the server goes away mid-session", async () => {
  const data = await initElection();
  const server = await startServer(data);
  const client = await typingClient(server.port);
  await client.type(...ALICE);
  await client.output.stdout.until(occurs("4. Exit"), "the menu");
  await server.kill();
  await client.type("3");
  const out = await client.finish();
  assert.equal(out.code, 1);
  assert.match(out.stdout, /Welcome Alice!/);
  assertOneLine(
    out.stderr,
    /^The server closed the connection; please log in again$/,
  );
});

Deno.test("the client with a CA file that is missing or not a certificate", async () => {
  const missing = await runProgram("client", ["--ca", "/nonexistent/ca.crt"]);
  assert.equal(missing.code, 1);
  assertOneLine(
    missing.stderr,
    /^Cannot read CA certificate "\/nonexistent\/ca.crt": it does not exist \(ask the election official for it, or run `make certs`\)$/,
  );

  const data = await initElection();
  const server = await startServer(data);
  try {
    await using dir = await tempDir("booth-test-");
    const notPem = join(dir.path, "ca.crt");
    await Deno.writeTextFile(notPem, "this is not a certificate\n");
    const out = await runProgram("client", clientFlags(server.port, notPem), {
      stdin: "",
    });
    assert.equal(out.code, 1);
    assertOneLine(
      out.stderr,
      /^Cannot use CA certificate ".*ca\.crt": it is not a PEM certificate$/,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("the server with no election, a missing certificate, an unreadable file, a busy port", async () => {
  await using emptyDir = await tempDir("booth-test-");
  const empty = emptyDir.path;
  const certs = await testCerts();
  const tls = [
    ...certFlags(certs),
    "--port",
    "0",
  ];
  const noElection = await runProgram("server", ["--data", empty, ...tls]);
  assert.equal(noElection.code, 1);
  assertOneLine(
    noElection.stderr,
    new RegExp(`^No election in ${empty}/: run \`deno task server init\`$`),
  );

  const noCert = await runProgram("server", ["--cert", "/nonexistent.crt"]);
  assert.equal(noCert.code, 1);
  assertOneLine(
    noCert.stderr,
    /^Cannot read TLS certificate "\/nonexistent.crt": it does not exist \(run `make certs` to create one\)$/,
  );

  const data = await initElection();
  await Deno.remove(join(data, "candidates"));
  await Deno.mkdir(join(data, "candidates"));
  const unreadable = await runProgram("server", ["--data", data, ...tls]);
  assert.equal(unreadable.code, 1);
  assertOneLine(
    unreadable.stderr,
    /^Cannot read candidates file ".*candidates": it is a directory$/,
  );

  const running = await startServer(await initElection());
  try {
    // Another election, so that the port, not the election's lock, is busy.
    const busy = await runProgram("server", [
      "--data",
      await initElection(),
      ...tls.slice(0, 4),
      "--port",
      String(running.port),
    ]);
    assert.equal(busy.code, 1);
    assertOneLine(
      busy.stderr,
      new RegExp(
        `^Cannot listen on 127\\.0\\.0\\.1:${running.port}: the address is already in use`,
      ),
    );
  } finally {
    await running.stop();
  }
});

Deno.test("server init: an existing election is kept without --force; a bad roll writes nothing", async () => {
  const data = await initElection();
  const before = await Deno.readTextFile(join(data, "passwords"));
  const again = await runProgram("server", ["init", "--data", data]);
  assert.equal(again.code, 1);
  assertOneLine(
    again.stderr,
    /^An election already exists in .*: use --force to replace it$/,
  );
  assert.equal(await Deno.readTextFile(join(data, "passwords")), before);

  await using dir = await tempDir("booth-test-");
  const roll = join(dir.path, "roll.txt");
  await Deno.writeTextFile(roll, "Ann 1 a\n# ok\nBen 2 b c\n");
  const fresh = join(dir.path, "data");
  const bad = await runProgram("server", [
    "init",
    "--data",
    fresh,
    "--voters",
    roll,
  ]);
  assert.equal(bad.code, 1);
  assertOneLine(
    bad.stderr,
    /^Cannot read voter roll ".*roll\.txt": line 3 has 4 fields/,
  );
  await assert.rejects(
    Deno.stat(fresh),
    Deno.errors.NotFound,
    "nothing written",
  );
  // Latin-1 "Zoë": a lenient decoder would register "Zo\u{fffd}".
  await Deno.writeFile(
    roll,
    Uint8Array.from([...new TextEncoder().encode("Ann 1 a\nZo"), 0xeb, 0x0a]),
  );
  const latin1 = await runProgram("server", [
    "init",
    "--data",
    fresh,
    "--voters",
    roll,
  ]);
  assert.equal(latin1.code, 1);
  assertOneLine(
    latin1.stderr,
    /^Cannot read voter roll ".*roll\.txt": line 2 is not UTF-8 text$/,
  );
  await assert.rejects(
    Deno.stat(fresh),
    Deno.errors.NotFound,
    "nothing written",
  );

  const forced = await runProgram("server", [
    "init",
    "--data",
    data,
    "--force",
  ]);
  assert.equal(forced.code, 0);
  assert.notEqual(await Deno.readTextFile(join(data, "passwords")), before);
});

/** The files in the working tree that git does not track, ignored ones included. */
async function untrackedFiles(): Promise<string> {
  const { stdout } = await new Deno.Command("git", {
    args: ["ls-files", "--others"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(stdout);
}

Deno.test("make demo runs a whole election with a closing, its transcript shows every step, and it writes nothing into the repository", async () => {
  const before = await untrackedFiles();
  const { code, stdout, stderr } = await new Deno.Command("make", {
    args: ["--no-print-directory", "demo"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, text + new TextDecoder().decode(stderr));
  for (
    const expected of [
      "== Alice votes for Chris and asks for the result too early",
      "The result is not available",
      "Invalid name, registration number, or password",
      "== Alice tries to vote a second time, then reads her history",
      "you have already voted",
      "== The official closes the polls while the server runs",
      "The polls are closed",
      "Polls closed: turnout 2/3\nTie between Chris and Linda\nChris 1\nLinda 1\n",
      "== The server stopped (exit 0)",
      "turnout 2/3\nconsistent",
      "State: closed",
      "Turnout: 2/3 (66.7%)",
      "demo finished: every step printed what it should",
    ]
  ) {
    assert.ok(
      text.includes(expected),
      `the transcript lacks ${JSON.stringify(expected)}`,
    );
  }
  assert.equal((text.match(/Your vote has been recorded\./g) ?? []).length, 2);
  assert.equal(
    await untrackedFiles(),
    before,
    "make demo wrote into the repository",
  );
  const work = text.match(/the seed's election .* in (\/\S+)\/data$/m)?.[1];
  assert.ok(work, "the transcript names the demo's directory");
  await assert.rejects(Deno.stat(work), Deno.errors.NotFound, "demo left");
});

Deno.test("make build compiles both programs with the tasks' permission flags, for every release target", async () => {
  const config = await Deno.readTextFile(join(ROOT, "deno.json"));
  const [server, client] = compileCommands(config);
  // Written out, not derived from deno.json as build.ts does: a task's
  // flags that went missing from the binaries would show here.
  assert.deepEqual(server, [
    "compile",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-sys=uid",
    "--allow-env",
    "--v8-flags=--optimize-for-size",
    "--output",
    "dist/election-server",
    "server.ts",
  ]);
  assert.deepEqual(client, [
    "compile",
    "--allow-net",
    "--allow-read",
    "--output",
    "dist/election-client",
    "client.ts",
  ]);
  for (const target of TARGETS) {
    const [s] = compileCommands(config, { target, suffix: true });
    assert.ok(s.includes("--target") && s.includes(target));
    assert.ok(
      s.includes(
        `dist/election-server-${target}${
          target.includes("windows") ? ".exe" : ""
        }`,
      ),
    );
  }
  const dry = await runBuildTool(["--dry-run"]);
  assert.equal(dry.code, 0);
  assert.deepEqual(lines(dry.stdout), [
    `deno ${server.join(" ")}`,
    `deno ${client.join(" ")}`,
  ]);
});

const SAMPLE_FLAGS = {
  tries: {
    type: "integer",
    value: "N",
    min: 1,
    max: 9,
    default: 3,
    help: "attempts",
  },
  engine: {
    type: "choice",
    choices: ["node", "deno"],
    default: "node",
    help: "TLS engine",
  },
  data: { type: "string", value: "DIR", help: "election directory" },
  quiet: { type: "boolean", short: "q", help: "log less" },
  limit: {
    type: "integer",
    value: "N",
    min: 1,
    max: 9,
    default: 5,
    help: "failed logins that lock\nan address out",
  },
} as const;

Deno.test("each flag's default is written once: parseFlags returns it, typed, and --help shows it", () => {
  const flags = parseFlags([], SAMPLE_FLAGS);
  // Typed from the spec: these assignments compile only with the right types.
  const tries: number = flags.tries;
  assert.equal(flags.limit, 5);
  const engine: "node" | "deno" = flags.engine;
  const data: string | undefined = flags.data;
  const quiet: boolean = flags.quiet;
  assert.deepEqual({ tries, engine, data, quiet }, {
    tries: 3,
    engine: "node",
    data: undefined,
    quiet: false,
  });
  assert.deepEqual(lines(formatFlags(SAMPLE_FLAGS)), [
    "  --tries N            attempts (default 3)",
    "  --engine node|deno   TLS engine (default node)",
    "  --data DIR           election directory",
    "  -q, --quiet          log less",
    "  --limit N            failed logins that lock",
    "                       an address out (default 5)",
  ]);
});

Deno.test("parseFlags takes --flag value, --flag=value and short aliases, the last value winning; every mistake is one UsageError naming it", () => {
  assert.deepEqual(
    parseFlags(
      ["--tries=2", "--data", "d", "-q", "--engine", "deno", "--tries", "5"],
      SAMPLE_FLAGS,
    ),
    { tries: 5, engine: "deno", data: "d", quiet: true, limit: 5 },
  );
  const mistakes: [string[], string][] = [
    [["--bogus"], 'Unknown option "--bogus"'],
    [["-x"], 'Unknown option "-x"'],
    [["--toString"], 'Unknown option "--toString"'],
    [["--tries"], 'Option "--tries" needs a value'],
    [["--data", "--quiet"], 'Option "--data" needs a value'],
    [["--data", ""], 'Option "--data" needs a value, not ""'],
    [["--data="], 'Option "--data" needs a value, not ""'],
    [["--quiet=yes"], 'Option "--quiet" does not take a value'],
    [
      ["--tries", "0"],
      'Option "--tries" takes a whole number from 1 to 9, not "0"',
    ],
    [
      ["--tries", "1e3"],
      'Option "--tries" takes a whole number from 1 to 9, not "1e3"',
    ],
    [["--engine", "tls"], 'Option "--engine" takes node or deno, not "tls"'],
    [["stray"], 'Unexpected argument "stray"'],
  ];
  for (const [args, message] of mistakes) {
    assert.throws(
      () => parseFlags(args, SAMPLE_FLAGS),
      (error: unknown) =>
        error instanceof UsageError && error.message === message,
      args.join(" "),
    );
  }
});

const REQUIRED_FLAGS = {
  to: { type: "string", value: "OUT", required: true, help: "where to write" },
  from: { type: "string", value: "URL", required: true, help: "the source" },
  help: { type: "boolean", alone: true, help: "show this help" },
} as const;

Deno.test("a required flag is typed as always there, shown as (required), and its absence is a UsageError unless --help is asked", () => {
  const flags = parseFlags(["--from", "db", "--to", "out"], REQUIRED_FLAGS);
  // Typed from the spec: this assignment compiles only because it is required.
  const to: string = flags.to;
  assert.deepEqual({ to, from: flags.from }, { to: "out", from: "db" });
  for (
    const [args, missing] of [[[], "to"], [["--to", "out"], "from"]] as const
  ) {
    assert.throws(
      () => parseFlags([...args], REQUIRED_FLAGS),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message === `Option "--${missing}" is required`,
      args.join(" "),
    );
  }
  assert.equal(parseFlags(["--help"], REQUIRED_FLAGS).help, true);
  assert.deepEqual(lines(formatFlags(REQUIRED_FLAGS)), [
    "  --to OUT     where to write (required)",
    "  --from URL   the source (required)",
    "  --help       show this help",
  ]);
});

Deno.test("passwd --help fits in 80 columns, export --help names every file it writes, and init refuses a ballot of one candidate", async () => {
  const passwd = await runProgram("server", ["passwd", "--help"]);
  assert.equal(passwd.code, 0);
  for (const line of lines(passwd.stdout)) {
    assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
  }
  const exported = await runProgram("server", ["export", "--help"]);
  for (const file of EXPORTED_FILES) {
    assert.ok(exported.stdout.includes(file), `export --help lacks ${file}`);
  }
  await using tmp = await tempDir("booth-cli-");
  const data = join(tmp.path, "data");
  assert.equal(
    await refusal(2, ["init", "--data", data, "--candidates", "Chris"]),
    'Option "--candidates" needs at least 2 candidates, not 1 ("Chris") (see --help)',
  );
  await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
});
