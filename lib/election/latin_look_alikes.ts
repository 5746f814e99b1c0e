/**
 * Cyrillic and Greek letters that a reader takes for Latin ones, for the
 * check that no ballot or roll holds two names a reader would take for one
 * (`Chris` and the all-Cyrillic `Сһгіѕ`).
 *
 * @module
 */

/**
 * Each Cyrillic or Greek letter that looks like a Latin letter in common
 * fonts, and that Latin letter. Every pair is taken from Unicode UTS #39's
 * `confusables.txt` (https://www.unicode.org/Public/security/latest/confusables.txt),
 * which gives both letters of a pair the same prototype (for `І` and `I`,
 * both `l`; this table keeps the capital so case folding still applies). Pairs of that file that look
 * alike only in some fonts (Cyrillic `п` and `n`, Greek `κ` and `k`, `η` and
 * `n`) are left out: a false "look-alike" would refuse an honest ballot.
 * Both cases are listed because a capital may look Latin when its small
 * letter does not (`В` and `B`, but `в`).
 */
export const LATIN_LOOK_ALIKES: ReadonlyMap<string, string> = lookAlikes([
  // Cyrillic small letters (ӏ is the palochka).
  ["аеорсухіјѕһгԁԛԝӏ", "aeopcyxijshrdqwl"],
  // Cyrillic capital letters (Ӏ is the palochka).
  ["АВЕКМНОРСТУХЅІЈԚԜӀ", "ABEKMHOPCTYXSIJQWl"],
  // Greek small letters.
  ["οναιργ", "ovaipy"],
  // Greek capital letters.
  ["ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX"],
]);

/** Pairs each letter of a script's row with the Latin letter under it. */
function lookAlikes(rows: [string, string][]): Map<string, string> {
  return new Map(rows.flatMap(([letters, latin]) => {
    const from = [...letters];
    const to = [...latin];
    if (from.length !== to.length) throw new Error(`uneven row "${letters}"`);
    return from.map((letter, i): [string, string] => [letter, to[i]]);
  }));
}

/** Any letter of {@linkcode LATIN_LOOK_ALIKES}. */
const LOOK_ALIKE = new RegExp(
  `[${[...LATIN_LOOK_ALIKES.keys()].join("")}]`,
  "gu",
);

/**
 * `text` with each Cyrillic or Greek letter of {@linkcode LATIN_LOOK_ALIKES}
 * replaced by the Latin letter it looks like; other characters unchanged.
 * Case is kept, so fold it afterwards, never before (`г` looks like `r`, its
 * capital `Г` like no Latin letter).
 *
 * @example
 * ```ts
 * toLatinLookAlikes("\u0421\u04bb\u0433\u0456\u0455"); // "Chris"
 * toLatinLookAlikes("Алексей"); // "Aлeкceй"
 * ```
 *
 * @param text Text in NFD or NFKD, so an accented letter is its base letter
 * and a combining mark.
 * @returns The text with look-alike letters made Latin.
 */
export function toLatinLookAlikes(text: string): string {
  return text.replace(LOOK_ALIKE, (letter) => LATIN_LOOK_ALIKES.get(letter)!);
}
