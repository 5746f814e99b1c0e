/** The election files' formats, with line-numbered errors. */

import assert from "node:assert/strict";
import {
  decodeText,
  ElectionFileError,
  formatPasswords,
  formatResult,
  historyLine,
  NotUtf8Error,
  parseCandidateList,
  parseCandidates,
  parseHistory,
  parsePasswords,
  parseResult,
  parseVoterRoll,
} from "../lib/election/election_files.ts";
import { generateKey, sealPassword } from "../lib/election/crypto.ts";

const alice = { name: "Alice", number: "1123456" };
const aliceSealed = sealPassword(generateKey(), alice, "1234");

Deno.test("a voter roll line without a password leaves it to be generated", () => {
  assert.deepEqual(parseVoterRoll("Alice 1123456\n", "v.txt"), [
    { name: "Alice", number: "1123456" },
  ]);
});

Deno.test("a voter roll ignores blank lines and # comments", () => {
  const roll = parseVoterRoll(
    "# the seed\nAlice 1123456 1234\n\n  Bob\t1138765  5678\n",
    "v.txt",
  );
  assert.deepEqual(roll, [
    { name: "Alice", number: "1123456", password: "1234" },
    { name: "Bob", number: "1138765", password: "5678" },
  ]);
});

Deno.test("a voter roll with CRLF line ends reads as with LF, and names differing in case are one name", () => {
  assert.deepEqual(
    parseVoterRoll("Alice 1123456 1234\r\nBob 1138765\r\n", "v.txt"),
    [
      { name: "Alice", number: "1123456", password: "1234" },
      { name: "Bob", number: "1138765" },
    ],
  );
  assert.throws(
    () => parseVoterRoll("Alice 1 a\r\nALICE 2 b\r\n", "v.txt"),
    /line 2 repeats the name "Alice" of line 1 as "ALICE"/,
  );
});

Deno.test("a bad voter roll line is refused with its line number", () => {
  const cases: [string, RegExp][] = [
    ["Alice\n", /^Cannot read voter roll "v.txt": line 1 has 1 field \(/],
    [
      "Alice 1 a\n# c\nBob 1 b\n",
      /line 3 repeats the registration number "1" of line 1/,
    ],
    ["Alice 1 a\nAlice 2 b\n", /line 2 repeats the name "Alice" of line 1/],
    ["Alice 1 a b\n", /line 1 has 4 fields/],
    ["# nobody\n", /it lists no voters/],
    [`${"A".repeat(65)} 1 a\n`, /line 1 has an invalid name/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseVoterRoll(text, "v.txt"), (error: Error) => {
      assert.ok(error instanceof ElectionFileError);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("passwords: one voter per line, name, number and the encrypted password in base64, read back as written", () => {
  const text = formatPasswords([{ ...alice, sealed: aliceSealed }]);
  assert.match(text, /^Alice 1123456 [A-Za-z0-9+/]{64}\n$/);
  assert.deepEqual(parsePasswords(text, "data/passwords"), [
    { ...alice, sealed: aliceSealed, line: 1 },
  ]);
});

Deno.test("a malformed passwords file names the file and line", () => {
  assert.throws(
    () =>
      parsePasswords(
        formatPasswords([{ ...alice, sealed: aliceSealed }]) + "Bob 1138765\n",
        "data/passwords",
      ),
    { message: 'Cannot read voter file "data/passwords": line 2 has 2 fields' },
  );
  assert.throws(
    () => parsePasswords("Alice 1123456 AAAA\n", "data/passwords"),
    /line 1 has an encrypted password that is not 48 bytes of base64/,
  );
});

Deno.test("candidates and result agree line by line, zeros included", () => {
  const candidates = parseCandidates("Chris\nLinda\n", "data/candidates");
  assert.deepEqual(candidates, ["Chris", "Linda"]);
  assert.equal(formatResult(candidates, [0, 0]), "Chris 0\nLinda 0\n");
  assert.deepEqual(
    parseResult("Chris 2\nLinda 1\n", "data/result", candidates),
    [2, 1],
  );
  assert.throws(
    () => parseResult("Linda 1\nChris 2\n", "data/result", candidates),
    /line 1 names "Linda" where candidates has "Chris"/,
  );
  assert.throws(
    () => parseResult("Chris 2\n", "data/result", candidates),
    /it has 1 candidates where candidates has 2/,
  );
  assert.throws(
    () => parseResult("Chris 2\nLinda 1\nBob 0\n", "data/result", candidates),
    /line 3 names "Bob", who is not in candidates/,
  );
  assert.throws(
    () => parseResult("Chris two\nLinda 1\n", "data/result", candidates),
    /line 1 is not "<candidate> <total votes>"/,
  );
  assert.throws(
    () => parseResult("Chris -1\nLinda 1\n", "data/result", candidates),
    /line 1/,
  );
});

Deno.test("--candidates is a comma-separated list of unique names", () => {
  assert.deepEqual(parseCandidateList("Ada,Bo,Cy"), ["Ada", "Bo", "Cy"]);
  assert.throws(() => parseCandidateList("Ada,Ada"), /repeats candidate "Ada"/);
  assert.throws(
    () => parseCandidateList("Ada,,Bo"),
    /invalid candidate name ""/,
  );
  assert.throws(
    () => parseCandidateList("Ada,B o"),
    /invalid candidate name "B o"/,
  );
});

Deno.test("history lines are a name and an ISO 8601 time with seconds and offset", () => {
  assert.equal(
    historyLine("Alice", new Date("2026-11-26T03:40:12.345Z")),
    "Alice 2026-11-26T03:40:12Z",
  );
  const entries = parseHistory(
    "Alice 2026-11-26T03:40:12Z\nBob 2026-11-26T04:00:00+01:00\n",
    "data/history",
  );
  assert.deepEqual(entries.map((e) => [e.name, e.line]), [["Alice", 1], [
    "Bob",
    2,
  ]]);
  for (
    const bad of [
      "Alice\n",
      "Alice yesterday\n",
      "Alice 2026-11-26 03:40:12\n",
      "Alice 2026-11-26T03:40:12\n",
    ]
  ) {
    assert.throws(
      () => parseHistory(bad, "data/history"),
      /line 1 is not "<voter name> <ISO 8601 time>"/,
      bad,
    );
  }
});

Deno.test("a history time must name a real moment: no February 30th, no 99:99:99", () => {
  for (
    const good of [
      "2024-02-29T23:59:59Z",
      "2026-12-31T00:00:00.5-12:00",
      "2026-11-26T04:00:00+14:00",
    ]
  ) {
    assert.equal(parseHistory(`Alice ${good}\n`, "data/history").length, 1);
  }
  for (
    const bad of [
      "2026-11-26T99:99:99Z",
      "2026-02-30T10:00:00Z",
      "2026-02-29T10:00:00Z",
      "2026-04-31T10:00:00Z",
      "2026-13-01T10:00:00Z",
      "2026-00-10T10:00:00Z",
      "2026-11-00T10:00:00Z",
      "2026-11-26T24:00:00Z",
      "2026-11-26T10:60:00Z",
      "2026-11-26T10:00:60Z",
      "2026-11-26T10:00:00+24:00",
      "2026-11-26T10:00:00+01:60",
    ]
  ) {
    assert.throws(
      () => parseHistory(`Tom 2026-11-26T03:40:12Z\nAlice ${bad}\n`, "h"),
      (error: Error) => {
        assert.ok(error instanceof ElectionFileError);
        assert.equal(error.line, 2);
        return true;
      },
      bad,
    );
  }
});

Deno.test("a history whose last line has no newline is refused: the next vote would join it", () => {
  assert.throws(
    () =>
      parseHistory(
        "Alice 2026-11-26T03:40:12Z\nBob 2026-11-26T03:41:00Z",
        "data/history",
      ),
    (error: Error) => {
      assert.ok(error instanceof ElectionFileError);
      assert.equal(
        error.message,
        'Cannot read history file "data/history": line 2 does not end with a newline',
      );
      return true;
    },
  );
});

Deno.test("a file that is not UTF-8 is refused with its first bad line, never read with U+FFFD", () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  assert.equal(decodeText(encode("Zoë 1\nAnn 2\n")), "Zoë 1\nAnn 2\n");
  for (
    const [bytes, line] of [
      [[...encode("Ann 1\nZo"), 0xeb, ...encode(" 2\nBen 3\n")], 2],
      [[0xff], 1],
      [[...encode("A\nB\nC\n"), 0xc3], 4],
      // A character cut in two by a newline is two bad lines, not one good.
      [[...encode("A\n"), 0xc3, 0x0a, 0xab, 0x0a], 2],
    ] as const
  ) {
    assert.throws(
      () => decodeText(Uint8Array.from(bytes)),
      (error: Error) => {
        assert.ok(error instanceof NotUtf8Error);
        assert.equal(error.line, line);
        assert.equal(error.message, `line ${line} is not UTF-8 text`);
        return true;
      },
    );
  }
});
