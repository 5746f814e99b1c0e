/**
 * The client at a real terminal: a pseudo-terminal (Python's `pty`) runs
 * `bash -c '<client>; echo EXIT=$?; stty -a'`, types at the prompts, and
 * returns everything the screen showed.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  initElection,
  ROOT,
  startServer,
  taskFlags,
  testCerts,
} from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";

const DRIVER = `
import json, os, pty, select, sys, time
command, script = sys.argv[1], json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp("bash", ["bash", "-c", command])
screen, seen = b"", 0
def read_some(timeout):
    global screen
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return False
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    if not data:
        return None
    screen += data
    return True
for wait_for, keys in script:
    deadline = time.time() + 20
    while screen.find(wait_for.encode(), seen) < 0:
        if time.time() > deadline or read_some(deadline - time.time()) is None:
            sys.stdout.write(screen.decode(errors="replace"))
            sys.exit("timed out waiting for %r" % wait_for)
    seen = screen.find(wait_for.encode(), seen) + len(wait_for)
    time.sleep(0.2)
    os.write(fd, keys.encode())
deadline = time.time() + 20
while time.time() < deadline and read_some(1) is not None:
    pass
os.waitpid(pid, 0)
sys.stdout.write(screen.decode(errors="replace"))
`;

/** Runs the client in a pseudo-terminal, typing `keys` once `waitFor` shows. */
async function atTerminal(
  clientArgs: string[],
  script: [waitFor: string, keys: string][],
  env: Record<string, string | null> = {},
): Promise<{ screen: string; exit: number; stty: string }> {
  const client = [
    Deno.execPath(),
    "run",
    ...taskFlags("client"),
    join(ROOT, "client.ts"),
    ...clientArgs,
  ]
    .map((word) => `'${word}'`).join(" ");
  const exports = Object.entries(env)
    .map(([k, v]) => v === null ? `unset ${k}; ` : `export ${k}=${v}; `)
    .join("");
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: [
      "-c",
      DRIVER,
      `${exports}${client}; echo EXIT=$?; stty -a`,
      JSON.stringify(script),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const screen = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `${new TextDecoder().decode(stderr)}\n${screen}`);
  const exit = Number(screen.match(/EXIT=(\d+)/)?.[1]);
  return { screen, exit, stty: screen.slice(screen.indexOf("EXIT=")) };
}

/** The terminal is usable again: line editing and echo are back on. */
function assertTerminalRestored(stty: string): void {
  assert.match(stty, /(^|\s)icanon(\s|$)/m, stty);
  assert.match(stty, /(^|\s)echo(\s|$)/m, stty);
}

/** Runs `use` with the client arguments for a fresh test server. */
async function withServer(use: (clientArgs: string[]) => Promise<void>) {
  const server = await startServer(await initElection());
  try {
    const ca = join(await testCerts(), "ca.crt");
    await use(["--port", String(server.port), "--ca", ca]);
  } finally {
    await server.stop();
  }
}

Deno.test("at a terminal the password is masked and Backspace corrects it", async () => {
  await withServer(async (args) => {
    const { screen, exit, stty } = await atTerminal(args, [
      ["Name: ", "Alice\r"],
      ["Registration number: ", "1123456\r"],
      ["Password: ", "12x\x7f34\r"],
      ["4. Exit", "4\r"],
    ]);
    assert.equal(exit, 0, screen);
    assert.match(
      screen,
      /Welcome Alice!/,
      "the corrected password 1234 logged in",
    );
    const afterPrompt = screen.slice(
      screen.indexOf("Password: "),
      screen.indexOf("Welcome"),
    );
    assert.ok(
      !/1|2|3|4|x/.test(afterPrompt),
      `the password showed: ${JSON.stringify(afterPrompt)}`,
    );
    assert.ok(
      afterPrompt.includes("***\b \b**"),
      `one * per character, erased by Backspace: ${
        JSON.stringify(afterPrompt)
      }`,
    );
    assertTerminalRestored(stty);
  });
});

Deno.test("Ctrl-C at the password prompt restores the terminal and exits 130", async () => {
  await withServer(async (args) => {
    const { screen, exit, stty } = await atTerminal(args, [
      ["Name: ", "Alice\r"],
      ["Registration number: ", "1123456\r"],
      ["Password: ", "12\x03"],
    ]);
    assert.equal(exit, 130, screen);
    assertTerminalRestored(stty);
  });
});

Deno.test("Ctrl-C at a line prompt exits 130; Ctrl-D at any prompt ends cleanly", async () => {
  await withServer(async (args) => {
    const interrupted = await atTerminal(args, [["Name: ", "\x03"]]);
    assert.equal(interrupted.exit, 130, interrupted.screen);
    assertTerminalRestored(interrupted.stty);

    for (
      const script of [
        [["Name: ", "\x04"]],
        [["Name: ", "Alice\r"], ["Registration number: ", "1123456\r"], [
          "Password: ",
          "\x04",
        ]],
        [["Name: ", "Alice\r"], ["Registration number: ", "1123456\r"], [
          "Password: ",
          "1234\r",
        ], ["4. Exit", "\x04"]],
      ] as [string, string][][]
    ) {
      const ended = await atTerminal(args, script);
      assert.equal(ended.exit, 0, ended.screen);
      assert.ok(
        !/error|Error/.test(
          ended.screen.slice(0, ended.screen.indexOf("EXIT=")),
        ),
        ended.screen,
      );
      assertTerminalRestored(ended.stty);
    }
  });
});

Deno.test("server init of a large roll shows a progress bar on a terminal", async () => {
  await using temp = await tempDir("booth-progress-");
  const dir = temp.path;
  const roll = join(dir, "roll.txt");
  await Deno.writeTextFile(
    roll,
    Array.from({ length: 6000 }, (_, i) => `V${i} ${100000 + i} p${i}\n`).join(
      "",
    ),
  );
  const server = [
    Deno.execPath(),
    "run",
    ...taskFlags("server"),
    join(ROOT, "server.ts"),
  ]
    .map((word) => `'${word}'`).join(" ");
  const { code, stdout } = await new Deno.Command("python3", {
    args: [
      "-c",
      DRIVER,
      `${server} init --data '${
        join(dir, "data")
      }' --voters '${roll}'; echo EXIT=$?`,
      "[]",
    ],
    stdout: "piped",
  }).output();
  const screen = new TextDecoder().decode(stdout);
  assert.equal(code, 0);
  assert.match(screen, /encrypting passwords \[#{30}\] 100% \(6000\/6000\)/);
  assert.match(screen, /created an election in .*: 6000 voters, 2 candidates/);
  assert.match(screen, /EXIT=0/);
});

Deno.test("errors are red at a terminal, plain with NO_COLOR", async () => {
  const args = ["--port", "1", "--ca", join(await testCerts(), "ca.crt")];
  // Unset explicitly: the test runner itself may run with NO_COLOR (CI does).
  const coloured = await atTerminal(args, [], { NO_COLOR: null });
  assert.ok(
    coloured.screen.includes(
      "\x1b[31mCannot connect to localhost:1: connection refused",
    ),
    JSON.stringify(coloured.screen),
  );
  const plain = await atTerminal(args, [], { NO_COLOR: "1" });
  assert.match(
    plain.screen,
    /Cannot connect to localhost:1: connection refused/,
  );
  assert.ok(!plain.screen.includes("\x1b["), JSON.stringify(plain.screen));
});
