/** Generated credentials: what `server init --credentials` hands out. */

import assert from "node:assert/strict";
import {
  completeRoll,
  formatCredentials,
  generatePassword,
  PASSWORD_ALPHABET,
  PASSWORD_BITS,
} from "../lib/election/credentials.ts";
import { parseVoterRoll } from "../lib/election/election_files.ts";

Deno.test("a generated password is three groups of four from an alphabet without look-alikes", () => {
  for (let i = 0; i < 200; i++) {
    const password = generatePassword();
    assert.match(
      password,
      /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/,
    );
  }
  for (const lookAlike of ["0", "O", "1", "I"]) {
    assert.ok(!PASSWORD_ALPHABET.includes(lookAlike), lookAlike);
  }
  assert.equal(new Set(PASSWORD_ALPHABET).size, 32);
});

Deno.test("a generated password carries at least 60 bits from the random source", () => {
  assert.ok(PASSWORD_BITS >= 60, `${PASSWORD_BITS} bits`);
  let asked = 0;
  const counting = (bytes: Uint8Array) => {
    asked += bytes.length;
    return bytes.fill(0);
  };
  assert.equal(generatePassword(counting), "2222-2222-2222");
  assert.equal(asked * 5, 60, "twelve bytes, five bits of each");
  const sequence = (bytes: Uint8Array) => bytes.map((_, i) => i + 32 * i);
  assert.equal(generatePassword(sequence), "2345-6789-ABCD");
  const seen = new Set(Array.from({ length: 1000 }, () => generatePassword()));
  assert.equal(seen.size, 1000, "no repeats in 1,000 draws");
});

Deno.test("a roll keeps the passwords it gives and gets the missing ones generated", () => {
  const roll = parseVoterRoll("Alice 1123456 1234\nBob 1138765\n", "roll");
  const voters = completeRoll(roll, (bytes) => bytes.fill(31));
  assert.deepEqual(voters, [
    { name: "Alice", number: "1123456", password: "1234" },
    { name: "Bob", number: "1138765", password: "ZZZZ-ZZZZ-ZZZZ" },
  ]);
});

Deno.test("the credentials file is a roll in roll order and reads back as one", () => {
  const voters = completeRoll(
    parseVoterRoll("Tom 1154571\nAlice 1123456 1234\nBob 1138765\n", "roll"),
  );
  const text = formatCredentials(voters);
  assert.deepEqual(
    text.split("\n").slice(0, -1).map((line) => line.split(" ")[0]),
    ["Tom", "Alice", "Bob"],
  );
  assert.deepEqual(parseVoterRoll(text, "credentials"), voters);
});
