/**
 * `server kit --out DIR` writes only files of its own: never through a
 * symbolic link, never over an existing kit without `--force`, and with it
 * by renaming a new file into place. The real `server` command.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { lines, makeCerts } from "./helpers.ts";
import { kit } from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

/** `server kit` for localhost, as an official runs it. */
function localhostKit(certs: string, out: string, ...flags: string[]) {
  return kit(certs, out, "--host", "localhost", ...flags);
}

Deno.test("server kit refuses a symbolic link in --out, even with --force, and leaves its target untouched", async () => {
  await using dir = await tempDir("booth-kit-");
  const certs = await makeCerts(join(dir.path, "certs"));
  const out = join(dir.path, "kit");
  await Deno.mkdir(out);
  const precious = join(dir.path, "precious");
  await Deno.writeTextFile(precious, "keep me\n");
  await Deno.symlink(precious, join(out, "election.json"));
  for (const extra of [[], ["--force"]]) {
    const made = await localhostKit(certs, out, ...extra);
    assert.equal(made.code, 1, made.stdout);
    assert.deepEqual(lines(made.stderr), [
      `Refusing to write kit file "${out}/election.json": it is a symbolic link; remove it first`,
    ]);
    assert.equal(await Deno.readTextFile(precious), "keep me\n");
    await assert.rejects(
      Deno.lstat(join(out, "README.txt")),
      Deno.errors.NotFound,
      "nothing written",
    );
  }
});

Deno.test("server kit replaces an existing kit only with --force, by a new file renamed into place", async () => {
  await using dir = await tempDir("booth-kit-");
  const certs = await makeCerts(join(dir.path, "certs"));
  const out = join(dir.path, "kit");
  assert.equal((await localhostKit(certs, out, "--name", "First")).code, 0);
  const kitPath = join(out, "election.json");
  const first = await Deno.readTextFile(kitPath);
  // A second name for the first file: written in place, it would change.
  const firstLink = join(dir.path, "first.json");
  await Deno.link(kitPath, firstLink);

  const again = await localhostKit(certs, out, "--name", "Second");
  assert.equal(again.code, 1);
  assert.deepEqual(lines(again.stderr), [
    `Kit file "${kitPath}" exists: use --force to replace it`,
  ]);
  assert.equal(await Deno.readTextFile(kitPath), first);

  const forced = await localhostKit(certs, out, "--name", "Second", "--force");
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(JSON.parse(await Deno.readTextFile(kitPath)).name, "Second");
  assert.equal(await Deno.readTextFile(firstLink), first, "not in place");
  assert.equal((await Deno.stat(kitPath)).mode! & 0o777, 0o644);
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(out))).map((e) => e.name).sort(),
    ["README.txt", "election.json"],
    "no temporary file left",
  );
});
