/**
 * Look-alike names that the first check let through: default-ignorable code
 * points (drawn as nothing) and names mixing Latin with Cyrillic or Greek
 * letters. Refused in every name, and escaped on the voter's terminal.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  misleadingNameProblem,
  parseCandidateList,
  parseVoterRoll,
} from "../lib/election/election_files.ts";
import { runProgram } from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";

Deno.test("names holding a default-ignorable code point are refused, naming it", () => {
  for (
    const [name, code] of [
      ["Chris\ufe00", "U+FE00"], // variation selector
      ["Chris\u3164", "U+3164"], // Hangul filler
      ["Chr\u034fis", "U+034F"], // combining grapheme joiner
      ["Chris\u115f", "U+115F"], // Hangul choseong filler
    ]
  ) {
    assert.equal(
      misleadingNameProblem(name),
      `it holds the invisible or control character ${code}`,
      code,
    );
  }
});

Deno.test("a name mixing Latin with Cyrillic or Greek letters is refused; one script, any script, is fine", () => {
  for (
    const [name, script] of [["Chr\u0456s", "Cyrillic"], ["B\u03bfb", "Greek"]]
  ) {
    assert.equal(
      misleadingNameProblem(name),
      `it mixes Latin and ${script} letters, which look alike`,
    );
  }
  for (const name of ["Алексей", "Ἀθηνᾶ", "Zoë", "김민준", "Jean-Luc_2"]) {
    assert.equal(misleadingNameProblem(name), undefined, name);
  }
  assert.throws(
    () => parseVoterRoll("Chris 1 a\nChr\u0456s 2 b\n", "v.txt"),
    /line 2 has an invalid name "Chr\u0456s": it mixes Latin and Cyrillic/,
  );
  assert.throws(
    () => parseCandidateList("Chris,Chris\u3164"),
    /item 2 has an invalid candidate name "Chris\\u\{3164\}"/,
  );
});

Deno.test("server init refuses the look-alike candidates of the review with one line and writes nothing", async () => {
  await using temp = await tempDir("booth-names-");
  const data = join(temp.path, "data");
  for (
    const [candidates, shown, problem] of [
      [
        "Chris,Chris\ufe00",
        "Chris\\u{fe00}",
        "it holds the invisible or control character U+FE00",
      ],
      [
        "Chris,Chris\u3164",
        "Chris\\u{3164}",
        "it holds the invisible or control character U+3164",
      ],
      [
        "Chris,Chr\u0456s",
        "Chr\u0456s",
        "it mixes Latin and Cyrillic letters, which look alike",
      ],
      [
        "Chris,Chr\u034fis",
        "Chr\\u{34f}is",
        "it holds the invisible or control character U+034F",
      ],
    ]
  ) {
    const init = await runProgram("server", [
      "init",
      "--data",
      data,
      "--candidates",
      candidates,
    ]);
    assert.equal(init.code, 2, init.stderr);
    assert.equal(
      init.stderr,
      `Option "--candidates": item 2 has an invalid candidate name "${shown}": ${problem} (see --help)\n`,
    );
    await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
  }
});
