/**
 * Databases of their own on a PostgreSQL server, created and dropped by its
 * administrator: one for each test that needs one (`tests/postgres_helpers.ts`)
 * and for each election the benchmark measures.
 *
 * @module
 */

import postgres from "postgres";

/**
 * Creates the database `name` on a server.
 *
 * @example
 * ```ts
 * const url = await createDatabase("postgres://booth:pw@127.0.0.1:5433/postgres", "booth_bench_1");
 * ```
 *
 * @param serverUrl The server, as a user who may create databases.
 * @param name The new database's name.
 * @returns The new database's URL: the server's, its path `/name`.
 */
export async function createDatabase(
  serverUrl: string,
  name: string,
): Promise<URL> {
  await asAdministrator(serverUrl, (sql) => sql`CREATE DATABASE ${sql(name)}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url;
}

/**
 * Drops the database `name` from a server if it is there, disconnecting
 * whoever is still connected to it.
 *
 * @param serverUrl The server, as a user who may drop the database.
 * @param name The database's name.
 */
export async function dropDatabase(
  serverUrl: string,
  name: string,
): Promise<void> {
  await asAdministrator(
    serverUrl,
    (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`,
  );
}

async function asAdministrator(
  serverUrl: string,
  statement: (sql: postgres.Sql) => Promise<unknown>,
): Promise<void> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await statement(sql);
  } finally {
    await sql.end();
  }
}
