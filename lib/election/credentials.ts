/**
 * Generated voter credentials: passwords the booth makes for voters whose
 * roll line gives none, and the credentials file an official distributes.
 * Pure functions; the randomness source is a parameter so tests can fix it.
 *
 * @module
 */

import type { RollEntry, RollLine } from "./election_files.ts";

/**
 * The 32 characters a generated password is written in: digits and capital
 * letters without `0`/`O` and `1`/`I`, which a voter copying a letter by
 * hand would confuse. 32 symbols make 5 bits each, drawn without bias.
 */
export const PASSWORD_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/** Characters per group, groups joined by `-`: `7KQ4-MX9P-2HWC`. */
const GROUP_CHARS = 4;

/** Groups per password: 12 characters of 5 bits, 60 bits in all. */
const GROUPS = 3;

/** Entropy of a generated password, in bits. */
export const PASSWORD_BITS = GROUPS * GROUP_CHARS *
  Math.log2(PASSWORD_ALPHABET.length);

/** Fills a byte array with random bytes, as `crypto.getRandomValues` does. */
export type RandomBytes = (bytes: Uint8Array) => Uint8Array;

/**
 * A new password: 60 bits from `random`, in three groups of four characters
 * of {@linkcode PASSWORD_ALPHABET}.
 *
 * @example
 * ```ts
 * generatePassword(); // e.g. "7KQ4-MX9P-2HWC"
 * ```
 *
 * @param random The randomness source (default `crypto.getRandomValues`).
 * @returns The password.
 */
export function generatePassword(
  random: RandomBytes = (bytes) => crypto.getRandomValues(bytes),
): string {
  const bytes = random(new Uint8Array(GROUPS * GROUP_CHARS));
  // 256 is a multiple of 32: the low five bits of a uniform byte are uniform.
  const chars = [...bytes].map((byte) => PASSWORD_ALPHABET[byte & 31]);
  const groups: string[] = [];
  for (let i = 0; i < chars.length; i += GROUP_CHARS) {
    groups.push(chars.slice(i, i + GROUP_CHARS).join(""));
  }
  return groups.join("-");
}

/**
 * The generated-password form of what a voter typed, when it can be one:
 * spaces and dashes dropped, letters made capitals, and the 12 characters
 * that remain, all of {@linkcode PASSWORD_ALPHABET}, grouped as
 * {@linkcode generatePassword} writes them. A voter copying `7KQ4-MX9P-2HWC`
 * from a letter may type `7kq4mx9p2hwc` or `7KQ4 MX9P 2HWC`.
 *
 * Only the form changes, never a character: the letter's password is the
 * same secret either way, and guessing is no easier. A password the roll
 * gave that only looks generated keeps working as typed, since the exact
 * text is always tried first (see `PasswordVerifier`).
 *
 * @example
 * ```ts
 * canonicalPassword("7kq4 mx9p-2hwc"); // "7KQ4-MX9P-2HWC"
 * canonicalPassword("1234"); // undefined: not a generated password
 * ```
 *
 * @param typed What the voter typed.
 * @returns The canonical form, or undefined when the text cannot be a
 * generated password.
 */
export function canonicalPassword(typed: string): string | undefined {
  const chars = typed.replace(/[ -]/g, "").toUpperCase();
  if (
    chars.length !== GROUPS * GROUP_CHARS ||
    [...chars].some((char) => !PASSWORD_ALPHABET.includes(char))
  ) {
    return undefined;
  }
  const groups: string[] = [];
  for (let i = 0; i < chars.length; i += GROUP_CHARS) {
    groups.push(chars.slice(i, i + GROUP_CHARS));
  }
  return groups.join("-");
}

/**
 * Gives every roll line a password: its own when it has one, a generated
 * one otherwise.
 *
 * @param roll The roll's lines, in order.
 * @param random The randomness source for generated passwords.
 * @returns The voters in roll order, each with a password.
 */
export function completeRoll(
  roll: readonly RollLine[],
  random?: RandomBytes,
): RollEntry[] {
  return roll.map(({ name, number, password }) => ({
    name,
    number,
    password: password ?? generatePassword(random),
  }));
}

/**
 * The credentials file: `<name> <registration number> <password>` per voter,
 * in roll order: the roll's own format, so it can be fed back to `init`.
 *
 * @param voters The voters with their passwords.
 * @returns The file's text.
 */
export function formatCredentials(voters: readonly RollEntry[]): string {
  return voters.map((v) => `${v.name} ${v.number} ${v.password}\n`).join("");
}
