/** Issue 10 item 9: look-alike names are refused, with their line number. */

import assert from "node:assert/strict";
import {
  CandidateListError,
  ElectionFileError,
  formatPasswords,
  misleadingNameProblem,
  nameKey,
  parseCandidateList,
  parseCandidates,
  parsePasswords,
  parseVoterRoll,
} from "../lib/election/election_files.ts";
import { generateKey, sealPassword } from "../lib/election/crypto.ts";
import { join } from "node:path";
import { refusal as serverRefusal } from "./server_commands.ts";
import { tempDir } from "./temp_dir.ts";

/**
 * The error `parse` throws, which must be an `ErrorType`; fails the test if
 * `parse` accepts its input.
 */
function refusal<E extends Error>(
  ErrorType: new (...args: never[]) => E,
  parse: () => unknown,
): E {
  try {
    parse();
  } catch (error) {
    assert.ok(error instanceof ErrorType, String(error));
    return error;
  }
  assert.fail("the input was accepted");
}

Deno.test("a voter name with a zero-width space is refused with its line number", () => {
  const error = refusal(
    ElectionFileError,
    () =>
      parseVoterRoll("Alice 1123456 1234\nAlice\u200b 1138765 5678\n", "v.txt"),
  );
  assert.equal(error.line, 2);
  assert.equal(
    error.message,
    'Cannot read voter roll "v.txt": line 2 has an invalid name "Alice\\u{200b}": it holds the invisible or control character U+200B',
  );
});

Deno.test("a candidate shown reversed by a right-to-left override is refused", () => {
  const error = refusal(
    ElectionFileError,
    () => parseCandidates("Chris\n\u202eadniL\n", "data/candidates"),
  );
  assert.equal(error.line, 2);
  assert.match(error.message, /line 2 has an invalid candidate name/);
  assert.match(error.message, /U\+202E/);
  assert.doesNotMatch(error.message, /\u202e/);
});

Deno.test("a name not in Unicode NFC is refused", () => {
  const decomposed = "Jose\u0301"; // "José" as e + combining acute accent
  const error = refusal(
    CandidateListError,
    () => parseCandidateList(`Chris,${decomposed}`),
  );
  assert.equal(error.item, 2);
  assert.match(error.message, /not in Unicode NFC/);
  assert.deepEqual(parseCandidateList("Chris,Jos\u00e9"), ["Chris", "José"]);
});

Deno.test("two voter names equal after NFKC case folding are duplicates", () => {
  const error = refusal(
    ElectionFileError,
    () => parseVoterRoll("Alice 1 a\nBob 2 b\nALICE 3 c\n", "v.txt"),
  );
  assert.equal(error.line, 3);
  assert.match(
    error.message,
    /line 3 repeats the name "Alice" of line 1 as "ALICE"/,
  );
  const fullWidth = refusal(
    ElectionFileError,
    () => parseVoterRoll("Alice 1 a\n\uff21lice 2 b\n", "v.txt"),
  );
  assert.equal(fullWidth.line, 2);
});

Deno.test("two candidates equal after NFKC case folding are duplicates", () => {
  const error = refusal(
    CandidateListError,
    () => parseCandidateList("Chris,Linda,chris"),
  );
  assert.equal(error.item, 3);
  assert.equal(
    error.message,
    'Option "--candidates": item 3 repeats candidate "Chris" as "chris"',
  );
  assert.ok(nameKey("Stra\u00dfe") === nameKey("STRASSE"));
});

Deno.test("the voter file refuses look-alike names as the roll does", () => {
  const key = generateKey();
  const line = (name: string, number: string) =>
    formatPasswords([
      { name, number, sealed: sealPassword(key, { name, number }, "pw") },
    ]);
  const error = refusal(
    ElectionFileError,
    () => parsePasswords(line("Tom", "1") + line("tom", "2"), "data/passwords"),
  );
  assert.equal(error.line, 2);
  const invisible = refusal(
    ElectionFileError,
    () => parsePasswords(line("To\u200dm", "1"), "data/passwords"),
  );
  assert.equal(invisible.line, 1);
});

Deno.test("ordinary names in any script are accepted", () => {
  for (const name of ["Alice", "Zoë", "Łukasz", "Ἀθηνᾶ", "김민준", "O'Brien"]) {
    assert.equal(misleadingNameProblem(name), undefined, name);
  }
  assert.deepEqual(
    parseVoterRoll("Zoë 1 a\nZoe 2 b\n", "v.txt").map((v) => v.name),
    ["Zoë", "Zoe"],
  );
});

Deno.test("server init refuses look-alike candidates and voters with one line and writes nothing", async () => {
  await using temp = await tempDir("booth-names-");
  const tmp = temp.path;
  {
    const data = join(tmp, "data");
    assert.equal(
      await serverRefusal(2, [
        "init",
        "--data",
        data,
        "--candidates",
        "Chris,Chris\u200b",
      ]),
      'Option "--candidates": item 2 has an invalid candidate name "Chris\\u{200b}": it holds the invisible or control character U+200B (see --help)',
    );
    const roll = join(tmp, "roll.txt");
    await Deno.writeTextFile(roll, "Alice 1123456 1234\nalice 1138765 5678\n");
    assert.match(
      await serverRefusal(1, ["init", "--data", data, "--voters", roll]),
      /^Cannot read voter roll ".*roll\.txt": line 2 repeats the name "Alice" of line 1 as "alice"$/,
    );
    await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
  }
});
