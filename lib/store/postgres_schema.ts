/**
 * The election's tables in PostgreSQL, in a schema of their own (`booth`).
 * Plain tables and portable SQL (`INSERT ... ON CONFLICT`, no stored
 * procedures), so that the same statements run on PostgreSQL-compatible
 * distributed databases (CockroachDB, YugabyteDB).
 *
 * Secrecy by construction: `tally` holds counts per candidate and `history`
 * who voted when; no table or column links a voter to a choice. A vote
 * updates one row of each in one transaction, and PostgreSQL itself can link
 * those two rows (the `xmin` system column, the WAL): the tables are owned by
 * the booth's role, and an auditor is granted the `audit_*` views, which
 * carry no system columns.
 *
 * `election.key_check` is HMAC-SHA256 under K of a fixed label: a booth or
 * an official's command given the wrong `symkey` is refused before it
 * touches a voter, and the value helps guess neither K nor a password.
 *
 * The login throttle's counts (`lockout_pairs`, `lockout_numbers`) live here
 * too, so that a lockout holds across every booth serving the election.
 * `check_id` names the login whose check a row last counted (so that the
 * statement can tell it counted, and undo it); `undo_*` hold the pair's
 * values before that check.
 *
 * @module
 */

/** The schema holding one election. */
export const SCHEMA = "booth";

/**
 * Counter rows per candidate. A vote adds 1 to one row picked at random, so
 * concurrent votes for one candidate rarely wait on each other's row lock;
 * readers sum the rows.
 */
export const TALLY_SHARDS = 16;

/** Seconds after its last heartbeat that a booth counts as stopped. */
export const SERVING_STALE_SECONDS = 6;

/** Seconds between a serving booth's heartbeats. */
export const HEARTBEAT_SECONDS = 2;

/** The statements that create an empty election schema. */
export const CREATE_SCHEMA = `
CREATE SCHEMA ${SCHEMA};
CREATE TABLE ${SCHEMA}.election (
  id integer PRIMARY KEY CHECK (id = 1),
  voters integer NOT NULL,
  opens_at timestamptz,
  closes_at timestamptz,
  key_check bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ${SCHEMA}.candidates (
  position integer PRIMARY KEY,
  name text NOT NULL UNIQUE
);
CREATE TABLE ${SCHEMA}.voters (
  number text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  sealed bytea NOT NULL,
  position integer NOT NULL UNIQUE
);
CREATE TABLE ${SCHEMA}.tally (
  candidate integer NOT NULL REFERENCES ${SCHEMA}.candidates (position),
  shard integer NOT NULL,
  votes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (candidate, shard)
);
CREATE TABLE ${SCHEMA}.history (
  voter text PRIMARY KEY REFERENCES ${SCHEMA}.voters (name),
  time text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE TABLE ${SCHEMA}.servers (
  id text PRIMARY KEY,
  address text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ${SCHEMA}.lockout_pairs (
  address text NOT NULL,
  number text NOT NULL,
  failures integer NOT NULL,
  lockouts integer NOT NULL,
  locked_until bigint NOT NULL,
  keep_until bigint NOT NULL,
  updated_at bigint NOT NULL,
  check_id text,
  undo_failures integer NOT NULL,
  undo_lockouts integer NOT NULL,
  undo_locked_until bigint NOT NULL,
  PRIMARY KEY (address, number)
);
CREATE TABLE ${SCHEMA}.lockout_numbers (
  number text PRIMARY KEY,
  failure_times bigint[] NOT NULL,
  keep_until bigint NOT NULL,
  updated_at bigint NOT NULL,
  check_id text
);
CREATE VIEW ${SCHEMA}.audit_result AS
  SELECT c.position, c.name AS candidate, coalesce(sum(t.votes), 0)::bigint AS votes
  FROM ${SCHEMA}.candidates c LEFT JOIN ${SCHEMA}.tally t ON t.candidate = c.position
  GROUP BY c.position, c.name;
CREATE VIEW ${SCHEMA}.audit_history AS
  SELECT voter, time FROM ${SCHEMA}.history;
CREATE VIEW ${SCHEMA}.audit_turnout AS
  SELECT (SELECT voters FROM ${SCHEMA}.election) AS registered,
         (SELECT count(*) FROM ${SCHEMA}.history) AS voted;
`;
