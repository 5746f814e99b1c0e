/**
 * A `--database` URL is read without surprises: a mistake in it is one line
 * that quotes what was typed safely and never the password.
 */

import assert from "node:assert/strict";
import {
  DatabaseUrlError,
  parseDatabaseUrl,
} from "../lib/store/postgres_connection.ts";

function refusal(url: string): string {
  try {
    parseDatabaseUrl(url);
  } catch (error) {
    assert.ok(error instanceof DatabaseUrlError, String(error));
    return error.message;
  }
  assert.fail(`"${url}" was accepted`);
}

Deno.test("a password with a bare % is said in words, without the password", () => {
  const message = refusal("postgres://booth:50%off@db.example.org/election");
  assert.equal(
    message,
    'The database URL\'s password has a "%" that is not followed by two hex digits or does not encode UTF-8 (write "%" as %25)',
  );
  assert.equal(
    parseDatabaseUrl("postgres://booth:50%25off@db.example.org/election")
      .password,
    "50%off",
  );
  assert.match(
    refusal("postgres://bo%zzth@db.example.org/election"),
    /^The database URL's user name has a "%"/,
  );
  assert.match(
    refusal("postgres://booth@db.example.org/elec%tion"),
    /^The database URL's database name has a "%"/,
  );
});

Deno.test("an sslmode with a newline is quoted escaped, on one line", () => {
  const cases = [
    ["bogus%0a", "bogus\\x0a"],
    ["toString", "toString"],
  ];
  for (const [given, shown] of cases) {
    assert.equal(
      refusal(`postgres://booth@db.example.org/election?sslmode=${given}`),
      `The database URL's sslmode takes disable, require or verify-full, not "${shown}"`,
    );
  }
});
