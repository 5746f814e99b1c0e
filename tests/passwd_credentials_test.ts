/**
 * `server passwd --credentials OUT` appends a password in clear: only to a
 * file of the official's own, never through a link. The real `server`
 * command; the ownership case needs root (to give a file away).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { lines } from "./helpers.ts";
import {
  initElectionIn,
  initWithCredentials,
  passwdInto,
  server,
} from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

async function refusedPasswd(data: string, out: string): Promise<string> {
  const before = await Deno.readTextFile(join(data, "passwords"));
  const passwd = await passwdInto(data, "Tom", out);
  assert.equal(passwd.code, 1, passwd.stdout);
  assert.equal(passwd.stdout, "", "no password printed");
  assert.equal(
    await Deno.readTextFile(join(data, "passwords")),
    before,
    "the password is not changed",
  );
  assert.equal(lines(passwd.stderr).length, 1, passwd.stderr);
  return passwd.stderr.trim();
}

Deno.test("passwd --credentials refuses a symbolic link and leaves its target untouched", async () => {
  await using tmp = await tempDir("booth-passwd-");
  const data = await initElectionIn(tmp.path);
  const precious = join(tmp.path, "precious");
  await Deno.writeTextFile(precious, "keep me\n", { mode: 0o600 });
  const out = join(tmp.path, "credentials");
  await Deno.symlink(precious, out);
  assert.equal(
    await refusedPasswd(data, out),
    `Refusing to append to credentials file "${out}": it is a symbolic link to "${precious}"`,
  );
  assert.equal(await Deno.readTextFile(precious), "keep me\n");
});

Deno.test("passwd --credentials refuses a file another user owns (root)", async () => {
  await using tmp = await tempDir("booth-passwd-");
  const data = await initElectionIn(tmp.path);
  const out = join(tmp.path, "credentials");
  await Deno.writeTextFile(out, "", { mode: 0o600 });
  const nobody = 65534;
  await Deno.chown(out, nobody, nobody);
  assert.equal(
    await refusedPasswd(data, out),
    `Refusing to append to credentials file "${out}": it belongs to uid ${nobody}, not to this user (uid ${Deno.uid()}); give a file of your own`,
  );
  assert.equal(await Deno.readTextFile(out), "");
});

Deno.test("init and passwd refuse a credentials file inside the election directory, and change nothing", async () => {
  await using tmp = await tempDir("booth-passwd-");
  const data = await initElectionIn(tmp.path);
  const roll = join(tmp.path, "roll");
  await Deno.writeTextFile(roll, "Ann 2000001\nBen 2000002\n");
  const before = await Deno.readTextFile(join(data, "passwords"));
  const refusal = (path: string) =>
    `Option "--credentials" names a file in the election directory ${data}/ ("${path}"): write the voters' passwords outside it (see --help)`;
  for (const inside of [join(data, "passwords"), join(data, "letters")]) {
    const init = await server(
      ...initWithCredentials(data, roll, inside),
      "--force",
    );
    assert.deepEqual([init.code, lines(init.stderr)], [2, [refusal(inside)]]);
    const passwd = await passwdInto(data, "Tom", inside);
    assert.deepEqual(
      [passwd.code, lines(passwd.stderr)],
      [2, [refusal(inside)]],
    );
    assert.equal(
      await Deno.readTextFile(join(data, "passwords")),
      before,
      `the election changed with --credentials ${inside}`,
    );
  }
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(data))).map((e) => e.name).sort(),
    ["candidates", "passwords", "polls", "result", "symkey"],
    "no credentials and no staging file in the election directory",
  );
});
