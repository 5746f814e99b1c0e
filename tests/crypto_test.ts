/** E(K, H(password)) as the booth issue specifies it. */

import assert from "node:assert/strict";
import {
  encodeBase64,
  entryAuthenticates,
  formatKey,
  generateKey,
  hashPassword,
  parseKey,
  passwordMatches,
  SEALED_BYTES,
  sealPassword,
} from "../lib/election/crypto.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const alice = { name: "Alice", number: "1123456" };
const bob = { name: "Bob", number: "1138765" };

Deno.test("H is the raw SHA-1 digest: the known vector for 1234", () => {
  const digest = hashPassword("1234");
  assert.equal(digest.length, 20);
  assert.equal(hex(digest), "7110eda4d09e062aa5e4a390b0a572ac0d2c0220");
});

Deno.test("E is AES-256-GCM with the name and number as AAD: a vector from an independent implementation", () => {
  // Computed with Python's `cryptography` (AESGCM): key bytes 0..31, nonce
  // bytes 100..111, AAD "Alice 1123456", plaintext SHA-1("1234").
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => 100 + i);
  assert.equal(
    encodeBase64(sealPassword(key, alice, "1234", nonce)),
    "ZGVmZ2hpamtsbW5vOQszwql3ULSbhvx4asAYUU/uBCodrpiq3wrmfSF3jHrj465F",
  );
});

Deno.test("a fresh nonce per entry: the same password never encrypts the same way twice", () => {
  const key = generateKey();
  assert.notDeepStrictEqual(
    sealPassword(key, alice, "1234"),
    sealPassword(key, alice, "1234"),
  );
});

Deno.test("the right password matches; a wrong one, another voter's line or another key does not", () => {
  const key = generateKey();
  const sealed = sealPassword(key, alice, "1234");
  assert.equal(sealed.length, SEALED_BYTES);
  assert.ok(passwordMatches(key, alice, sealed, "1234"));
  assert.ok(!passwordMatches(key, alice, sealed, "1235"));
  assert.ok(!passwordMatches(key, alice, sealed, ""));
  assert.ok(!passwordMatches(key, bob, sealed, "1234"), "moved to Bob's line");
  assert.ok(!passwordMatches(generateKey(), alice, sealed, "1234"));
});

Deno.test("a tampered or moved passwords entry fails to authenticate under K", () => {
  const key = generateKey();
  const sealed = sealPassword(key, alice, "1234");
  assert.ok(entryAuthenticates(key, alice, sealed));
  for (let i = 0; i < sealed.length; i++) {
    const tampered = sealed.slice();
    tampered[i] ^= 0x01;
    assert.ok(
      !entryAuthenticates(key, alice, tampered),
      `bit flipped in byte ${i}`,
    );
  }
  assert.ok(
    !entryAuthenticates(key, bob, sealed),
    "entry moved to another voter",
  );
  assert.ok(!entryAuthenticates(generateKey(), alice, sealed), "another key");
  assert.ok(!entryAuthenticates(key, alice, sealed.subarray(1)), "truncated");
});

Deno.test("symkey holds K as one base64 line of 32 bytes", () => {
  const key = generateKey();
  const text = formatKey(key);
  assert.match(text, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.deepEqual(parseKey(text), key);
  assert.equal(parseKey("c2hvcnQ=\n"), undefined, "too short");
  assert.equal(parseKey(text.replace("=", "!")), undefined, "not base64");
  assert.equal(parseKey(text + text), undefined, "two lines");
});
