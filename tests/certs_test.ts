/** `make certs`: what tools/make_certs.sh promises about the TLS material. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { makeCerts, ROOT } from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";

async function openssl(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("openssl", {
    args,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout);
}

Deno.test("make certs: a local CA and a P-256 server certificate for localhost, 127.0.0.1 and ::1, keys 0600", async () => {
  await using work = await tempDir("booth-certs-");
  const dir = await makeCerts(join(work.path, "certs"));
  for (const file of ["ca.crt", "ca.key", "server.crt", "server.key"]) {
    const mode = (await Deno.stat(join(dir, file))).mode! & 0o777;
    assert.equal(mode, file.endsWith(".key") ? 0o600 : 0o644, file);
  }
  const server = await openssl([
    "x509",
    "-in",
    join(dir, "server.crt"),
    "-noout",
    "-text",
  ]);
  assert.match(
    server,
    /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/,
  );
  assert.match(server, /CA:FALSE/);
  assert.match(server, /ASN1 OID: prime256v1/);
  assert.match(
    await openssl(["x509", "-in", join(dir, "ca.crt"), "-noout", "-text"]),
    /CA:TRUE/,
  );
  assert.match(
    await openssl([
      "verify",
      "-CAfile",
      join(dir, "ca.crt"),
      join(dir, "server.crt"),
    ]),
    /server\.crt: OK/,
  );
});

Deno.test("make certs keeps existing certificates unless FORCE=1", async () => {
  await using work = await tempDir("booth-certs-");
  const dir = await makeCerts(join(work.path, "certs"));
  const before = await Deno.readTextFile(join(dir, "server.key"));
  await makeCerts(dir);
  assert.equal(
    await Deno.readTextFile(join(dir, "server.key")),
    before,
    "kept",
  );
  await makeCerts(dir, { FORCE: "1" });
  assert.notEqual(
    await Deno.readTextFile(join(dir, "server.key")),
    before,
    "replaced",
  );
});

Deno.test("git keeps no key, certificate or election file", async () => {
  const { stdout } = await new Deno.Command("git", {
    args: ["ls-files", "certs", "data"],
    cwd: ROOT,
    stdout: "piped",
  })
    .output();
  assert.deepEqual(new TextDecoder().decode(stdout).trim().split("\n").sort(), [
    "certs/README.md",
    "data/README.md",
  ]);
  const ignored = await new Deno.Command("git", {
    args: [
      "check-ignore",
      "certs/server.key",
      "certs/ca.key",
      "data/symkey",
      "data/passwords",
      "data/history",
    ],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(ignored.stdout).trim().split("\n").length,
    5,
  );
});
