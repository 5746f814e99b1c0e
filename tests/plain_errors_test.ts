/**
 * The official's commands answer a mistaken path or value in words, in one
 * line: no raw OS error, no advice that does not apply, counts in good
 * grammar. And `verify` reports, after the turnout, what the server would
 * refuse at start-up as well as every file problem.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { lines, runProgram, testCerts } from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";
import {
  initElectionIn,
  initWithCredentials,
  refusal,
  refusedServe,
  server,
} from "./server_commands.ts";

/**
 * `server kit` for localhost, expected to refuse in one line.
 *
 * @returns The line on stderr.
 */
function refusedKit(cert: string, ca: string, out: string): Promise<string> {
  return refusal(1, [
    "kit",
    "--host",
    "localhost",
    "--cert",
    cert,
    "--ca",
    ca,
    "--out",
    out,
  ]);
}

Deno.test("a file given as the election directory, a kit --out that is a file: said in words", async () => {
  await using tmp = await tempDir("booth-errors-");
  const file = join(tmp.path, "afile");
  await Deno.writeTextFile(file, "");
  assert.equal(
    await refusal(1, ["init", "--data", file]),
    `Election directory "${file}" is not a directory`,
  );
  assert.equal(
    await refusal(1, ["verify", "--data", file]),
    `Election directory "${file}" is not a directory`,
  );
  // Refused before any database is reached (port 1 has none).
  const move = ["init", "--database", "postgres://booth@127.0.0.1:1/booth"];
  assert.equal(
    await refusal(1, [...move, "--from", file]),
    `Election directory "${file}" is not a directory`,
  );
  assert.equal(
    await refusal(1, [...move, "--from", join(tmp.path, "none")]),
    `No election in ${join(tmp.path, "none")}/: run \`deno task server init\``,
  );
  assert.equal(
    await refusal(1, ["init", "--data", join(file, "data")]),
    `Cannot create the election in ${file}/data/: a part of its path is not a directory`,
  );
  const certs = await testCerts();
  assert.equal(
    await refusedKit(join(certs, "server.crt"), join(certs, "ca.crt"), file),
    `Cannot write the kit in "${file}": it is a file; --out takes a directory`,
  );
  assert.equal(await Deno.readTextFile(file), "", "the file is untouched");
});

Deno.test("a credentials file in a missing folder or a system folder: said in words, no election made", async () => {
  await using tmp = await tempDir("booth-errors-");
  const data = join(tmp.path, "data");
  const missing = join(tmp.path, "nodir", "letters.txt");
  assert.equal(
    await refusal(1, ["init", "--data", data, "--credentials", missing]),
    `Cannot write credentials file "${missing}": its directory "${
      join(tmp.path, "nodir")
    }" does not exist`,
  );
  assert.equal(
    await refusal(1, [
      "init",
      "--data",
      data,
      "--credentials",
      "/proc/letters.txt",
    ]),
    'Cannot write credentials file "/proc/letters.txt": it is a special system file, which cannot be used',
  );
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp.path)), []);
});

Deno.test("a value that starts with a dash is read as the value, not called a value the option does not take", async () => {
  assert.equal(
    await refusal(2, ["--port", "-1"]),
    'Option "--port" takes a whole number from 0 to 65535, not "-1" (see --help)',
  );
  assert.equal(
    await refusal(2, ["--quiet=yes"]),
    'Option "--quiet" does not take a value (see --help)',
  );
});

Deno.test("init counts one voter and one generated password in the singular", async () => {
  await using tmp = await tempDir("booth-errors-");
  const roll = join(tmp.path, "roll.txt");
  await Deno.writeTextFile(roll, "Ada 1000001\n");
  const data = join(tmp.path, "data");
  const letters = join(tmp.path, "letters.txt");
  const out = await server(
    ...initWithCredentials(data, roll, letters),
    "--candidates",
    "Chris,Linda",
  );
  assert.equal(out.code, 0, out.stderr);
  const said = lines(out.stdout);
  assert.equal(
    said[0],
    `created an election in ${data}/: 1 voter, 2 candidates (Chris, Linda)`,
  );
  assert.match(
    said[2],
    /^wrote the credentials of 1 voter \(1 password generated\) to /,
  );
});

Deno.test("verify prints the turnout first, then what the server would refuse at start-up and every file problem", async () => {
  await using tmp = await tempDir("booth-errors-");
  const data = await initElectionIn(tmp.path);
  await Deno.chmod(data, 0o755);
  await Deno.writeTextFile(join(data, "polls"), "closes-at tomorrow\n");
  const out = await server("verify", "--data", data);
  assert.equal(out.code, 1);
  assert.deepEqual(lines(out.stdout), [
    "turnout 0/3",
    `Refusing to open the election: election directory "${data}" is accessible by group or others (mode 0755); run chmod 700 "${data}"`,
    `Cannot read polls file "${data}/polls": line 1 is not "opens-at <time>" or "closes-at <time>" (ISO 8601 with an offset)`,
  ]);
  await Deno.chmod(data, 0o700);
  await Deno.writeTextFile(join(data, "polls"), "");
  const fixed = await server("verify", "--data", data);
  assert.equal(fixed.code, 0, fixed.stdout);
  assert.deepEqual(lines(fixed.stdout), ["turnout 0/3", "consistent"]);
  await Deno.writeTextFile(join(data, "passwords"), "Alice\n", {
    append: true,
  });
  const unreadable = await server("verify", "--data", data);
  assert.equal(unreadable.code, 1);
  assert.deepEqual(lines(unreadable.stdout), [
    "turnout unknown",
    `Cannot read voter file "${data}/passwords": line 4 has 1 field`,
  ]);
});

Deno.test("a device, a FIFO or an oversized file given as an input file is refused in one line, never read", async () => {
  await using tmp = await tempDir("booth-errors-");
  const fifo = join(tmp.path, "fifo");
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.equal(made.code, 0);
  const big = join(tmp.path, "big.crt");
  await Deno.writeTextFile(big, "a".repeat(64 * 1024 + 1));
  const certs = await testCerts();
  const notRegular = "it is not a regular file (a device, a pipe or a socket)";
  assert.equal(
    await refusal(1, [
      "init",
      "--data",
      join(tmp.path, "data"),
      "--voters",
      fifo,
    ]),
    `Cannot read voter roll "${fifo}": ${notRegular}`,
  );
  assert.equal(
    await refusedKit(join(certs, "server.crt"), fifo, join(tmp.path, "kit")),
    `Cannot read CA certificate "${fifo}": ${notRegular} (run \`make certs\` to create one)`,
  );
  assert.equal(
    await refusal(1, [
      "--port",
      "0",
      "--data",
      join(tmp.path, "data"),
      "--cert",
      big,
      "--key",
      join(certs, "server.key"),
    ]),
    `Cannot read TLS certificate "${big}": it is larger than 64 KiB (run \`make certs\` to create one)`,
  );
  const client = await runProgram("client", ["--election", "/dev/zero"]);
  assert.equal(client.code, 2);
  assert.equal(
    client.stderr,
    `Cannot read election file "/dev/zero": ${notRegular}\n`,
  );
  const ca = await runProgram("client", ["--ca", fifo]);
  assert.equal(ca.code, 1);
  assert.equal(
    ca.stderr,
    `Cannot read CA certificate "${fifo}": ${notRegular} (ask the election official for it, or run \`make certs\`)\n`,
  );
});

Deno.test("an empty --data, a directory where journal belongs: one line that names the mistake", async () => {
  await using tmp = await tempDir("booth-errors-");
  for (const command of ["serve", "verify", "init"]) {
    assert.equal(
      await refusal(2, [command, "--data", ""]),
      'Option "--data" needs a value, not "" (see --help)',
    );
  }
  const data = join(tmp.path, "data");
  assert.equal((await server("init", "--data", data)).code, 0);
  await Deno.mkdir(join(data, "journal"));
  assert.equal(
    await refusedServe(data),
    `Cannot read journal file "${join(data, "journal")}": it is a directory`,
  );
});
