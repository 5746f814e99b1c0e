/**
 * The certificate rules the client pins with and `server kit` checks with,
 * on certificates made by openssl.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  chainReachesAnchor,
  coversHost,
  isIssuedBy,
  parseCertificate,
} from "../lib/election/certificates.ts";
import type { X509Certificate } from "node:crypto";
import { makeCerts, makeLeafCert } from "./helpers.ts";

async function certificate(path: string): Promise<X509Certificate> {
  const cert = parseCertificate(await Deno.readTextFile(path));
  assert.ok(cert, path);
  return cert;
}

/** An intermediate CA signed by `caDir`'s CA, and a localhost leaf it signs. */
async function intermediateChain(caDir: string, dir: string) {
  const script = `set -e
cd "${dir}"
openssl ecparam -name prime256v1 -genkey -noout -out int.key
openssl req -new -key int.key -subj /CN=intermediate -out int.csr
printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign\\n' > int.ext
openssl x509 -req -in int.csr -CA "${caDir}/ca.crt" -CAkey "${caDir}/ca.key" \\
  -set_serial 7 -days 30 -extfile int.ext -out int.crt
openssl ecparam -name prime256v1 -genkey -noout -out leaf.key
openssl req -new -key leaf.key -subj /CN=localhost -out leaf.csr
printf 'subjectAltName=DNS:localhost\\nbasicConstraints=critical,CA:FALSE\\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA int.crt -CAkey int.key -set_serial 8 \\
  -days 30 -extfile leaf.ext -out leaf.crt`;
  const { code, stderr } = await new Deno.Command("bash", {
    args: ["-c", script],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return {
    intermediate: await certificate(join(dir, "int.crt")),
    leaf: await certificate(join(dir, "leaf.crt")),
  };
}

Deno.test("certificate rules: issued by, chains to the anchor, covers the host", async () => {
  const root = await Deno.makeTempDir({ prefix: "booth-certificates-" });
  try {
    const election = await makeCerts(join(root, "election"));
    const other = await makeCerts(join(root, "other"));
    const ca = await certificate(join(election, "ca.crt"));
    const otherCa = await certificate(join(other, "ca.crt"));
    const server = await certificate(join(election, "server.crt"));
    const otherServer = await certificate(join(other, "server.crt"));

    assert.equal(parseCertificate("not a certificate"), undefined);
    assert.equal(
      parseCertificate(await Deno.readTextFile(join(election, "ca.key"))),
      undefined,
    );
    assert.equal(
      parseCertificate(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      ),
      undefined,
    );

    assert.ok(isIssuedBy(server, ca));
    assert.ok(!isIssuedBy(otherServer, ca));
    assert.ok(!isIssuedBy(server, otherCa));

    assert.ok(chainReachesAnchor([server], ca));
    assert.ok(chainReachesAnchor([ca], ca), "the anchor itself");
    assert.ok(!chainReachesAnchor([otherServer], ca));
    assert.ok(!chainReachesAnchor([otherServer, otherCa], ca));
    assert.ok(!chainReachesAnchor([], ca));

    const { intermediate, leaf } = await intermediateChain(
      election,
      await Deno.makeTempDir({ dir: root }),
    );
    assert.ok(chainReachesAnchor([leaf, intermediate], ca));
    assert.ok(!chainReachesAnchor([leaf], ca), "intermediate not presented");
    assert.ok(!chainReachesAnchor([leaf, intermediate], otherCa));
    const later = new Date(Date.now() + 90 * 86_400_000);
    assert.ok(
      !chainReachesAnchor([leaf, intermediate], ca, later),
      "an expired intermediate does not link",
    );

    assert.ok(coversHost(server, "localhost"));
    assert.ok(coversHost(server, "LocalHost"), "DNS names ignore case");
    assert.ok(coversHost(server, "127.0.0.1"));
    assert.ok(coversHost(server, "::1"));
    assert.ok(!coversHost(server, "vote.example.org"));
    assert.ok(!coversHost(server, "10.0.0.1"));
    const wildcard = await makeLeafCert(election, {
      san: "DNS:*.example.org",
      start: "20250101000000Z",
      end: "20990101000000Z",
    });
    try {
      const cert = await certificate(join(wildcard, "server.crt"));
      assert.ok(coversHost(cert, "vote.example.org"));
      assert.ok(!coversHost(cert, "a.vote.example.org"));
      assert.ok(!coversHost(cert, "example.org"));
    } finally {
      await Deno.remove(wildcard, { recursive: true });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
