/**
 * The client trusts exactly the election's CA: not the runtime's public
 * roots, not `DENO_CERT`. Real server, real client, real TLS.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ALICE,
  certFlags,
  clientFlags,
  initElection,
  lines,
  makeCerts,
  makeIntermediateChain,
  MENU,
  occurs,
  runClient,
  runProgram,
  startServer,
  testCerts,
  typed,
} from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";

Deno.test("a server whose certificate another CA the runtime trusts (DENO_CERT) signed gets no credential", async () => {
  const electionCerts = await testCerts();
  await using otherCa = await tempDir("booth-other-ca-");
  const other = await makeCerts(otherCa.path);
  await using server = await startServer(
    await initElection(),
    certFlags(other),
  );
  const env = { DENO_CERT: join(other, "ca.crt") };
  // The attack is real: with DENO_CERT, Deno's own TLS client accepts
  // this server although it was given only the election's CA.
  const control = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const conn = await Deno.connectTls({ hostname: "localhost", port: ${server.port}, caCerts: [Deno.readTextFileSync(${
        JSON.stringify(join(electionCerts, "ca.crt"))
      })] }); await conn.handshake(); conn.close(); console.log("accepted");`,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(control.stdout), "accepted\n");

  const out = await runProgram(
    "client",
    clientFlags(server.port, join(electionCerts, "ca.crt")),
    { stdin: typed(ALICE), env },
  );
  assert.equal(out.code, 1);
  assert.equal(out.stdout, "", "the client prompted or printed");
  assert.equal(lines(out.stderr).length, 1, out.stderr);
  assert.match(
    out.stderr,
    /^Refusing the server's certificate: it is not signed by the CA in ".*ca\.crt"; nothing was sent\n$/,
  );
  await server.until(
    "stderr",
    occurs("connection closed (peer closed", 2),
    "both connections to close",
  );
  assert.equal(await server.stop(), 0);
  assert.doesNotMatch(server.stderr(), /login|protocol error/);
});

Deno.test("a server certificate issued through an intermediate of the election's CA is accepted", async () => {
  const chain = await makeIntermediateChain(await testCerts());
  try {
    await using server = await startServer(
      await initElection(),
      certFlags(chain),
    );
    const out = await runClient(server.port, [...ALICE, "4"]);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(lines(out.stdout).slice(3), ["Welcome Alice!", ...MENU]);
  } finally {
    await Deno.remove(chain, { recursive: true });
  }
});
