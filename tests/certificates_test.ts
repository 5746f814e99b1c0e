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
import { makeCerts, makeIntermediateChain, makeLeafCert } from "./helpers.ts";

async function certificate(path: string): Promise<X509Certificate> {
  const cert = parseCertificate(await Deno.readTextFile(path));
  assert.ok(cert, path);
  return cert;
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

    const chainDir = await makeIntermediateChain(election);
    const intermediate = await certificate(join(chainDir, "intermediate.crt"));
    const leaf = await certificate(join(chainDir, "leaf.crt"));
    await Deno.remove(chainDir, { recursive: true });
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
