/**
 * Look-alike names that the first check let through: default-ignorable code
 * points (drawn as nothing) and names mixing Latin with Cyrillic or Greek
 * letters, refused in every name and escaped on the voter's terminal; and
 * two names of one ballot or roll that look the same though each is in one
 * script (`Chris` and the all-Cyrillic `Сһгіѕ`).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  misleadingNameProblem,
  nameKey,
  nameSkeleton,
  parseCandidateList,
  parseCandidates,
  parseVoterRoll,
} from "../lib/election/election_files.ts";
import { refusal } from "./server_commands.ts";
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
    assert.equal(
      await refusal(2, ["init", "--data", data, "--candidates", candidates]),
      `Option "--candidates": item 2 has an invalid candidate name "${shown}": ${problem} (see --help)`,
    );
    await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
  }
});

/** `Chris` in Cyrillic letters: С һ г і ѕ. */
const CYRILLIC_CHRIS = "\u0421\u04bb\u0433\u0456\u0455";

Deno.test("names wholly in Cyrillic or Greek that look like a Latin name have its skeleton", () => {
  for (
    const [latin, lookAlike] of [
      ["Chris", CYRILLIC_CHRIS],
      ["BOB", "\u0412\u041e\u0412"], // Cyrillic В О В
      ["Bob", "\u0392\u03bf\u0392"], // Greek Β ο Β: BoB, case folded
      ["Pepe", "\u0420\u0435\u0440\u0435"], // Cyrillic Р е р е
      ["NIKO", "\u039d\u0399\u039a\u039f"], // Greek Ν Ι Κ Ο
      ["Zoë", "\u0396\u03bf\u0435\u0308"], // Greek Ζ ο, Cyrillic е, diaeresis
      ["ayax", "\u0430\u0443\u0430\u0445"], // Cyrillic а у а х
    ]
  ) {
    assert.equal(nameSkeleton(lookAlike), nameSkeleton(latin), lookAlike);
    assert.notEqual(nameKey(lookAlike), nameKey(latin), lookAlike);
  }
});

Deno.test("names that only share some letters, or look alike in no common font, keep apart", () => {
  for (
    const [latin, other] of [
      ["Alexei", "\u0410\u043b\u0435\u043a\u0441\u0435\u0439"], // Алексей
      ["Athena", "\u1f08\u03b8\u03b7\u03bd\u1fb6"], // Ἀθηνᾶ
      ["BOB", "\u0432\u043e\u0432"], // вов: a small в is no b
      ["RAM", "\u0413\u0410\u041c"], // ГАМ: a capital Г is no R
      ["Minjun", "\uae40\ubbfc\uc900"], // 김민준
    ]
  ) {
    assert.notEqual(nameSkeleton(other), nameSkeleton(latin), other);
  }
});

Deno.test("a ballot or a roll holding two names that look the same in different scripts is refused", () => {
  assert.throws(
    () => parseCandidateList(`Chris,Linda,${CYRILLIC_CHRIS}`),
    {
      message:
        `Option "--candidates": item 3 repeats candidate "Chris" as "${CYRILLIC_CHRIS}", which looks the same`,
    },
  );
  assert.throws(
    () =>
      parseVoterRoll(
        "\u0392\u03bf\u0392 1 a\nAlice 2 b\nBoB 3 c\n",
        "v.txt",
      ),
    {
      message:
        'Cannot read voter roll "v.txt": line 3 repeats the name "\u0392\u03bf\u0392" of line 1 as "BoB", which looks the same',
    },
  );
  assert.deepEqual(
    parseCandidateList("Алексей,Alexei,Ἀθηνᾶ,Athena,김민준"),
    ["Алексей", "Alexei", "Ἀθηνᾶ", "Athena", "김민준"],
  );
});

Deno.test("an election's own candidates file created before the look-alike check still reads", () => {
  assert.deepEqual(
    parseCandidates(`Chris\n${CYRILLIC_CHRIS}\n`, "data/candidates"),
    ["Chris", CYRILLIC_CHRIS],
  );
});

Deno.test("server init refuses a ballot or a roll of two names that look the same with one line and writes nothing", async () => {
  await using temp = await tempDir("booth-names-");
  const data = join(temp.path, "data");
  assert.equal(
    await refusal(2, [
      "init",
      "--data",
      data,
      "--candidates",
      `Chris,${CYRILLIC_CHRIS}`,
    ]),
    `Option "--candidates": item 2 repeats candidate "Chris" as "${CYRILLIC_CHRIS}", which looks the same (see --help)`,
  );
  await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
  const roll = join(temp.path, "roll.txt");
  await Deno.writeTextFile(
    roll,
    `Chris 1123456 1234\n${CYRILLIC_CHRIS} 1138765 5678\n`,
  );
  assert.equal(
    await refusal(1, ["init", "--data", data, "--voters", roll]),
    `Cannot read voter roll "${roll}": line 2 repeats the name "Chris" of line 1 as "${CYRILLIC_CHRIS}", which looks the same`,
  );
  await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
});
