/**
 * A server certificate and private key that do not belong together are
 * refused at start-up, on both TLS engines, rather than served with every
 * handshake failing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { keyPairProblem } from "../lib/election/certificates.ts";
import { startServerProcess } from "../tools/processes.ts";
import { makeCerts, runProgram, testCerts } from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";

Deno.test("a key pair is checked: matching, another key, not a key, not a certificate", async () => {
  await using temp = await tempDir("booth-keypair-");
  const certs = await testCerts();
  const other = await makeCerts(join(temp.path, "other"));
  const cert = await Deno.readTextFile(join(certs, "server.crt"));
  const key = await Deno.readTextFile(join(certs, "server.key"));
  const otherKey = await Deno.readTextFile(join(other, "server.key"));
  const caKey = await Deno.readTextFile(join(certs, "ca.key"));
  const mismatch = "the private key does not match the certificate";
  const cases: [string, string, string, string | undefined][] = [
    ["matching", cert, key, undefined],
    ["another key", cert, otherKey, mismatch],
    ["the CA's key", cert, caKey, mismatch],
    ["not a key", cert, cert, "the private key is not a PEM private key"],
    ["not a certificate", key, key, "the certificate is not a PEM certificate"],
  ];
  for (const [name, certificate, privateKey, problem] of cases) {
    assert.equal(keyPairProblem(certificate, privateKey), problem, name);
  }
});

Deno.test("the server refuses in one line a private key that does not match its certificate, on both TLS engines", async () => {
  await using temp = await tempDir("booth-keypair-");
  const certs = await testCerts();
  const other = await makeCerts(join(temp.path, "other"));
  const data = join(temp.path, "data");
  assert.equal((await runProgram("server", ["init", "--data", data])).code, 0);
  const certPath = join(certs, "server.crt");
  const keyPath = join(other, "server.key");
  for (const engine of ["node", "deno"]) {
    const refusal = await startServerProcess([
      "--data",
      data,
      "--port",
      "0",
      "--cert",
      certPath,
      "--key",
      keyPath,
      "--tls-engine",
      engine,
    ]).then(async (server) => {
      await server.stop();
      assert.fail(`the ${engine} engine started with a foreign key`);
    }, (error: Error) => error.message);
    const stderr = refusal.split("\n").filter((line) => line !== "");
    assert.deepEqual(stderr, [
      "server did not start:",
      `Cannot use TLS certificate "${certPath}" with private key "${keyPath}": the private key does not match the certificate`,
    ], engine);
  }
});
