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
export const LATIN_LOOK_ALIKES: ReadonlyMap<string, string> = new Map([
  // Cyrillic small letters.
  ["\u0430", "a"], // а
  ["\u0435", "e"], // е
  ["\u043e", "o"], // о
  ["\u0440", "p"], // р
  ["\u0441", "c"], // с
  ["\u0443", "y"], // у
  ["\u0445", "x"], // х
  ["\u0456", "i"], // і
  ["\u0458", "j"], // ј
  ["\u0455", "s"], // ѕ
  ["\u04bb", "h"], // һ
  ["\u0433", "r"], // г
  ["\u0501", "d"], // ԁ
  ["\u051b", "q"], // ԛ
  ["\u051d", "w"], // ԝ
  ["\u04cf", "l"], // ӏ (palochka)
  // Cyrillic capital letters.
  ["\u0410", "A"], // А
  ["\u0412", "B"], // В
  ["\u0415", "E"], // Е
  ["\u041a", "K"], // К
  ["\u041c", "M"], // М
  ["\u041d", "H"], // Н
  ["\u041e", "O"], // О
  ["\u0420", "P"], // Р
  ["\u0421", "C"], // С
  ["\u0422", "T"], // Т
  ["\u0423", "Y"], // У
  ["\u0425", "X"], // Х
  ["\u0405", "S"], // Ѕ
  ["\u0406", "I"], // І
  ["\u0408", "J"], // Ј
  ["\u051a", "Q"], // Ԛ
  ["\u051c", "W"], // Ԝ
  ["\u04c0", "l"], // Ӏ (palochka)
  // Greek small letters.
  ["\u03bf", "o"], // ο
  ["\u03bd", "v"], // ν
  ["\u03b1", "a"], // α
  ["\u03b9", "i"], // ι
  ["\u03c1", "p"], // ρ
  ["\u03b3", "y"], // γ
  // Greek capital letters.
  ["\u0391", "A"], // Α
  ["\u0392", "B"], // Β
  ["\u0395", "E"], // Ε
  ["\u0396", "Z"], // Ζ
  ["\u0397", "H"], // Η
  ["\u0399", "I"], // Ι
  ["\u039a", "K"], // Κ
  ["\u039c", "M"], // Μ
  ["\u039d", "N"], // Ν
  ["\u039f", "O"], // Ο
  ["\u03a1", "P"], // Ρ
  ["\u03a4", "T"], // Τ
  ["\u03a5", "Y"], // Υ
  ["\u03a7", "X"], // Χ
]);

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
