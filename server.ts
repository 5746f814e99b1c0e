/**
 * The voting server's command line: `init` creates an election, `serve` (the
 * default) serves it over TLS, `verify` checks its files, `kit` writes the
 * voters' `election.json`; for the election official, `passwd` gives a voter
 * a new password, `close` closes the polls and `report` summarises the
 * election for publication; `export` writes a database
 * election out as the seed's files. Each works on an election directory
 * (`--data`, one server) or on PostgreSQL (`--database`, any number of
 * servers) where it says so.
 *
 * @module
 */

import { startBoothServer } from "./lib/server/booth_server.ts";
import { closeBooth } from "./lib/server/close_booth.ts";
import {
  fitConnections,
  freeDescriptors,
  RESERVED_DESCRIPTORS,
} from "./lib/server/descriptor_limit.ts";
import { colorEnabled, paint } from "./lib/terminal/colors.ts";
import { escapeLogLine } from "./lib/terminal/escape.ts";
import { describeDropped, LogWriter } from "./lib/terminal/log_writer.ts";
import {
  INPUT_FILE_LIMITS,
  readInputFile,
  readInputText,
} from "./lib/store/input_file.ts";
import type { Color } from "./lib/terminal/colors.ts";
import {
  ExitCode,
  formatFlags,
  parseFlags,
  printError,
  UsageError,
  VERSION,
} from "./lib/terminal/cli.ts";
import type { FlagSpecs, FlagValues } from "./lib/terminal/cli.ts";
import { DEFAULT_LOCKOUT_POLICY } from "./lib/election/lockout_rules.ts";
import {
  decodeText,
  ElectionFileError,
  NotUtf8Error,
  parseCandidateList,
  parseVoterRoll,
} from "./lib/election/election_files.ts";
import type { RollEntry, RollLine } from "./lib/election/election_files.ts";
import {
  denoFileOps,
  describeFsError,
  isFsError,
  lstatOrUndefined,
  UnsafeFileError,
} from "./lib/store/file_ops.ts";
import {
  checkPrivateFile,
  ExposedFileError,
  openPrivateForAppend,
} from "./lib/store/private_file.ts";
import {
  completeRoll,
  formatCredentials,
  generatePassword,
} from "./lib/election/credentials.ts";
import {
  formatTime,
  newWindowProblem,
  nextWholeSecond,
  parseTimeWithOffset,
} from "./lib/election/polls.ts";
import type { PollsWindow } from "./lib/election/polls.ts";
import {
  changeVoterPassword,
  closePolls,
  setClosingTime,
} from "./lib/store/officials.ts";
import { formatReport, reportElection } from "./lib/store/report.ts";
import type { ElectionReportSummary } from "./lib/store/report.ts";
import {
  changeDatabaseVoterPassword,
  databasePollsKeeper,
  reportDatabaseElection,
} from "./lib/store/postgres_officials.ts";
import { winnerLine } from "./lib/client/voter_client.ts";
import { progressBar } from "./lib/terminal/progress.ts";
import { plural } from "./lib/terminal/plural.ts";
import { PasswordVerifier } from "./lib/election/booth.ts";
import { keyPairProblem } from "./lib/election/certificates.ts";
import { createElection } from "./lib/store/create_election.ts";
import {
  ElectionInconsistentError,
  ElectionLockedError,
  ElectionMovedError,
  electionPaths,
  lockElection,
  markDatabaseKey,
  markElectionMoved,
  NoElectionError,
  NotADirectoryError,
  refuseMovedElection,
  refuseNonDirectory,
} from "./lib/store/election_dir.ts";
import {
  inspectElection,
  readElectionKey,
  verifyElection,
} from "./lib/store/election_state.ts";
import { FileBoothStore } from "./lib/store/file_store.ts";
import { describeRollback } from "./lib/store/journal.ts";
import {
  formatElectionKit,
  hostProblem,
  KIT_FILE_NAME,
  kitAddress,
  KitError,
  makeElectionKit,
  nameProblem,
  voterReadme,
} from "./lib/election/kit.ts";
import { basename, dirname, join, resolve, sep as SEPARATOR } from "node:path";
import { fstatSync, statSync } from "node:fs";
import { StorageError } from "./lib/store/booth_store.ts";
import type { BoothStore } from "./lib/store/booth_store.ts";
import { PostgresStore } from "./lib/store/postgres_store.ts";
import { keyCheckValue, parseKey } from "./lib/election/crypto.ts";
import {
  connectDatabase,
  DatabaseUrlError,
  describeDatabaseError,
  parseDatabaseUrl,
  sqlState,
} from "./lib/store/postgres_connection.ts";
import type { DatabaseTarget, Sql } from "./lib/store/postgres_connection.ts";
import {
  auditDatabaseElection,
  checkDatabaseKey,
  ElectionExistsError,
  electionFiles,
  keyForDatabase,
  NoDatabaseElectionError,
  readDatabaseElection,
  refuseForeignKeyDirectory,
  refuseWrongKey,
  sealRoll,
  writeDatabaseElection,
  WrongElectionKeyError,
} from "./lib/store/postgres_election.ts";
import type { DatabaseSnapshot } from "./lib/store/postgres_election.ts";
import type { ProgressBar } from "./lib/terminal/progress.ts";

/** The seed's voters, the default roll of `server init`. */
const SEED_VOTERS: RollLine[] = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
  { name: "Tom", number: "1154571", password: "9012" },
];
const SEED_CANDIDATES = "Chris,Linda";

const COMMON_FLAGS = {
  help: { type: "boolean", short: "h", alone: true, help: "show this help" },
  version: { type: "boolean", alone: true, help: "show the version" },
} as const satisfies FlagSpecs;

/** The election directory when `--data` is not given. */
const DEFAULT_DATA = "data";

/** `--data DIR`, described as `help` says. */
function dataFlag<H extends string>(help: H) {
  return { type: "string", value: "DIR", default: DEFAULT_DATA, help } as const;
}

const SERVE_FLAGS = {
  hostname: {
    type: "string",
    value: "HOST",
    default: "127.0.0.1",
    help: "address to listen on",
  },
  port: {
    type: "integer",
    value: "PORT",
    min: 0,
    max: 65535,
    default: 4443,
    help: "TCP port, 0 for any free one",
  },
  data: dataFlag(
    "election directory, mode 0700, no links\nwith --database it holds only symkey",
  ),
  database: {
    type: "string",
    value: "URL",
    help:
      "serve the election in this PostgreSQL database\n(postgres://user@host:port/db; password from\nPGPASSWORD or the URL); any number of servers may\nserve one database at once",
  },
  cert: {
    type: "string",
    value: "FILE",
    default: "certs/server.crt",
    help: "server certificate, PEM",
  },
  key: {
    type: "string",
    value: "FILE",
    default: "certs/server.key",
    help: "server private key, PEM, mode 0600",
  },
  "tls-engine": {
    type: "choice",
    choices: ["node", "deno"],
    default: "node",
    help:
      "TLS engine\n(deno cannot reap sockets that never finish their handshake)",
  },
  "login-grace": {
    type: "integer",
    value: "SECONDS",
    min: 1,
    max: 86400,
    default: 60,
    help: "time to finish TLS and log in",
  },
  "idle-timeout": {
    type: "integer",
    value: "SECONDS",
    min: 1,
    max: 86400,
    default: 300,
    help: "a logged-in session's longest silence",
  },
  "max-connections": {
    type: "integer",
    value: "N",
    min: 1,
    max: 1_000_000,
    default: 1000,
    help: "open connections at most, fitted to the open\nfile limit",
  },
  "max-startups-per-address": {
    type: "integer",
    value: "N",
    min: 1,
    max: 1_000_000,
    default: 64,
    help: "connections not yet logged in from one address",
  },
  "lockout-threshold": {
    type: "integer",
    value: "N",
    min: 1,
    max: 1000,
    default: 5,
    help:
      "failed logins from one address that lock it out of\na registration number",
  },
  "lockout-seconds": {
    type: "integer",
    value: "S",
    min: 1,
    max: DEFAULT_LOCKOUT_POLICY.maxLockSeconds,
    default: 30,
    help:
      `first lockout; doubles up to ${DEFAULT_LOCKOUT_POLICY.maxLockSeconds}`,
  },
  quiet: {
    type: "boolean",
    help: "log only failures, lockouts, refusals and abnormal ends",
  },
  ...COMMON_FLAGS,
} as const satisfies FlagSpecs;

// --data and --candidates have no default in the table: --from must know
// whether they were given. Their defaults are the constants the help names.
const INIT_FLAGS = {
  data: {
    type: "string",
    value: "DIR",
    help:
      `election directory, made mode 0700 (default ${DEFAULT_DATA});\nwith --database it receives only symkey and a\n"database" file naming the election it keys (that\nelection's key is reused; a file election's or\nanother database's is refused); a file init never\nreplaces such a key, even with --force`,
  },
  database: {
    type: "string",
    value: "URL",
    help:
      'create the election in this PostgreSQL database, in\nits own schema "booth" (password from PGPASSWORD or\nthe URL); --force is refused while a server serves it',
  },
  from: {
    type: "string",
    value: "DIR",
    help:
      "with --database: move the file election in DIR\n(roll, candidates, votes, history) into the database;\nK stays in DIR/symkey (copied to --data when given);\nrefused while a server serves DIR, then marked as\nmoved: no file command serves or changes it again,\nand no file init replaces its symkey",
  },
  voters: {
    type: "string",
    value: "FILE",
    help:
      'voter roll, one "<name> <registration number> [<password>]"\nper line; blank lines and # comments are ignored; a\nline without a password gets a generated one, which\nneeds --credentials (default: the seed\'s Alice, Bob\nand Tom)',
  },
  credentials: {
    type: "string",
    value: "OUT",
    help:
      'write every voter\'s "<name> <registration number>\n<password>" to OUT (mode 0600, roll order), to\ndistribute; never replaces OUT without --force; OUT\nmust be outside the election directory',
  },
  candidates: {
    type: "string",
    value: "A,B,...",
    help: `candidates in ballot order, at least 2 (default ${SEED_CANDIDATES})`,
  },
  "opens-at": {
    type: "string",
    value: "TIME",
    help:
      "when the polls open, ISO 8601 with an offset, e.g.\n2026-11-26T08:00:00+01:00 (default: at once)",
  },
  "closes-at": {
    type: "string",
    value: "TIME",
    help:
      "when the polls close, after now and after --opens-at\n(default: never; see close --help)",
  },
  force: {
    type: "boolean",
    help: "replace an existing election, votes included, and OUT",
  },
  ...COMMON_FLAGS,
} as const satisfies FlagSpecs;

const PASSWD_FLAGS = {
  data: dataFlag("election directory"),
  voter: {
    type: "string",
    value: "NAME",
    required: true,
    help: "the voter, by name as in the roll",
  },
  credentials: {
    type: "string",
    value: "OUT",
    help:
      "append the line to OUT (created with mode 0600) instead\nof printing it; OUT must be outside the election\ndirectory",
  },
  database: {
    type: "string",
    value: "URL",
    help:
      "the election in this PostgreSQL database (--data then\nholds symkey); works while booths serve",
  },
  ...COMMON_FLAGS,
} as const satisfies FlagSpecs;

const CLOSE_FLAGS = {
  data: dataFlag("election directory"),
  at: {
    type: "string",
    value: "TIME",
    help: "the closing time, ISO 8601 with an offset (default: now)",
  },
  database: {
    type: "string",
    value: "URL",
    help:
      "the election in this PostgreSQL database: every booth\nserving it honours the closing within 1 s",
  },
  ...COMMON_FLAGS,
} as const satisfies FlagSpecs;

const REPORT_FLAGS = {
  data: dataFlag("election directory"),
  json: { type: "boolean", help: "the same as one JSON object, for machines" },
  database: {
    type: "string",
    value: "URL",
    help:
      "the election in this PostgreSQL database; the hashes are\nof the files `export` writes",
  },
  ...COMMON_FLAGS,
} as const satisfies FlagSpecs;

const VERIFY_FLAGS = {
  data: dataFlag(
    "election directory\nwith --database, the directory holding symkey",
  ),
  database: {
    type: "string",
    value: "URL",
    help: "check the election in this PostgreSQL database",
  },
  ...COMMON_FLAGS,
} as const satisfies FlagSpecs;

const EXPORT_FLAGS = {
  database: {
    type: "string",
    value: "URL",
    required: true,
    help: "the election's database\n(password from PGPASSWORD or the URL)",
  },
  data: dataFlag("directory holding symkey"),
  to: {
    type: "string",
    value: "OUT",
    required: true,
    help: "directory to write",
  },
  ...COMMON_FLAGS,
} as const satisfies FlagSpecs;

const KIT_FLAGS = {
  host: {
    type: "string",
    value: "HOST",
    required: true,
    help: "host name or address voters connect to",
  },
  port: {
    type: "integer",
    value: "PORT",
    min: 1,
    max: 65535,
    default: 4443,
    help: "port voters connect to",
  },
  cert: {
    type: "string",
    value: "FILE",
    default: "certs/server.crt",
    help: "server certificate, PEM",
  },
  ca: {
    type: "string",
    value: "FILE",
    default: "certs/ca.crt",
    help: "CA certificate that signed it, PEM",
  },
  name: {
    type: "string",
    value: "NAME",
    default: "Election",
    help: "the election's display name",
  },
  out: {
    type: "string",
    value: "DIR",
    required: true,
    help: "where to write the kit, created if missing",
  },
  force: {
    type: "boolean",
    help: "replace kit files already in DIR (never a symbolic link)",
  },
  ...COMMON_FLAGS,
} as const satisfies FlagSpecs;

const SERVE_HELP =
  `election-server ${VERSION}: the secure election booth's voting server

Usage:
  deno task server [serve] [options]   serve the election over TLS (the default)
  deno task server init [options]      create an election (see init --help)
  deno task server verify [options]    check an election's files (see verify --help)
  deno task server kit [options]       write the voters' election.json (see kit --help)
  deno task server passwd [options]    give a voter a new password (see passwd --help)
  deno task server close [options]     close the polls (see close --help)
  deno task server report [options]    the election's state, turnout, result and
                                       file hashes (see report --help)
  deno task server export [options]    write a database election as files (see export --help)

Options of serve:
${formatFlags(SERVE_FLAGS)}

Prints "listening on HOST:PORT" on stdout once it accepts connections, a
security log on stderr, and stops cleanly on SIGINT or SIGTERM.`;

const INIT_HELP = `Usage: deno task server init [options]

Creates an election: a fresh random key K in symkey, the voter file
passwords (E(K, H(password)) per voter), candidates, a result of zeros and
the polls' opening and closing times.

Names of voters and candidates hold no spaces, invisible characters or
mix of Latin, Cyrillic and Greek letters, and are in Unicode NFC. A roll
or a ballot may not hold two names a reader would take for one: equal
after NFKC case folding (Alice, ALICE), or once Cyrillic and Greek letters
that look Latin are read as Latin (Chris and the all-Cyrillic \u0421\u04bb\u0433\u0456\u0455).

Options:
${formatFlags(INIT_FLAGS)}`;

const PASSWD_HELP = `Usage: deno task server passwd --voter NAME [options]

Gives one voter a new generated password (a lost letter) and prints
"<name> <registration number> <password>" once, or appends it to OUT, before
it replaces the old one (an output that fails changes nothing; a stdout sent
to /dev/null is refused). The old password stops working. Refused while a
server serves the election: stop it, change the password, start it again.
With --database it works while booths serve: they read a voter's entry at
each login.

Options:
${formatFlags(PASSWD_FLAGS)}`;

const CLOSE_HELP = `Usage: deno task server close [options]

Sets the time the polls close (default: now, the next whole second). Works
while a server runs, without a restart: once a closing now has returned, no
vote counts any more (it waits for a vote the server is recording). After
the closing a vote is refused and View election result shows the result with
the turnout. The polls cannot be reopened, nor closed at a time already
past. A closing at or before the opening closes the election before it opens:
the polls never open, and the result (turnout 0) shows from the closing on.

Options:
${formatFlags(CLOSE_FLAGS)}`;

const REPORT_HELP = `Usage: deno task server report [options]

Prints the election's state (not yet open, open, closed, everyone voted; or,
for an election closed at or before its opening, never opens and then closed
before opening, with no opening time), the turnout, and once the result is
available each candidate's votes with a percentage and a bar, and the winner
or tie line; then the SHA-256 of candidates, passwords, result and history,
so a printed report can later be checked against the files. While the polls
are open it shows the turnout only, never running totals (nor the hash of
result). Works while a server runs.

Options:
${formatFlags(REPORT_FLAGS)}`;

const VERIFY_HELP = `Usage: deno task server verify [options]

Checks an election's files against each other without changing them, and
what the server refuses at start-up (a directory or key file open to others,
a link), and prints the turnout, then "consistent" or each problem found.
Exit status 0 when consistent, 1 otherwise. It cannot tell who voted for whom.

Options:
${formatFlags(VERIFY_FLAGS)}`;

const EXPORT_HELP =
  `Usage: deno task server export --database URL [--data DIR] --to OUT

Writes the election in a PostgreSQL database as the seed's files in OUT:
symkey (copied from DIR), passwords, candidates, result, history (in
commit order) and polls (the opening and closing times), byte for byte the formats of a file election, so that
\`deno task server verify --data OUT\` checks it and a file-store server
could serve it. OUT is created when missing and must otherwise be empty.
OUT is a copy, not a second live election (a voter could vote on each),
and it holds K: keep it as private as DIR.

Options:
${formatFlags(EXPORT_FLAGS)}`;

const KIT_HELP = `Usage: deno task server kit --host HOST --out DIR [options]

Writes DIR/election.json, what the voter's client needs to find this
election: its display name, host, port and CA certificate (nothing secret),
and DIR/README.txt, three lines for voters. Publish both with the client
binaries, or build them in: make build ELECTION=DIR/election.json.
Refuses a host the server certificate does not cover, and a CA that did not
sign it.

Options:
${formatFlags(KIT_FLAGS)}`;

/**
 * Runs the server's command line.
 *
 * @param args The arguments, e.g. `Deno.args`.
 * @returns The exit status.
 */
export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  try {
    const named = first !== undefined && Object.hasOwn(SUBCOMMANDS, first);
    return named
      ? await SUBCOMMANDS[first](rest)
      : await SUBCOMMANDS.serve(args);
  } catch (error) {
    if (error instanceof UsageError) {
      printError(`${error.message} (see --help)`);
      return ExitCode.Usage;
    }
    printError(error instanceof Error ? error.message : String(error));
    return ExitCode.Failure;
  }
}

/**
 * One subcommand: its flags parsed by `specs`, `--help` answered with `help`
 * and `--version` with the version instead of running it.
 */
function subcommand<S extends typeof COMMON_FLAGS & FlagSpecs>(
  specs: S,
  help: string,
  run: (flags: FlagValues<S>) => Promise<number>,
): (args: string[]) => Promise<number> {
  return async (args) => {
    const flags = parseFlags(args, specs);
    if (flags.help) return printHelp(help);
    if (flags.version) return printHelp(`election-server ${VERSION}`);
    return await run(flags);
  };
}

/** The subcommands by name; without one, the arguments are serve's. */
const SUBCOMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  serve: subcommand(SERVE_FLAGS, SERVE_HELP, serve),
  init: subcommand(INIT_FLAGS, INIT_HELP, init),
  verify: subcommand(VERIFY_FLAGS, VERIFY_HELP, verify),
  kit: subcommand(KIT_FLAGS, KIT_HELP, kit),
  passwd: subcommand(PASSWD_FLAGS, PASSWD_HELP, passwd),
  close: subcommand(CLOSE_FLAGS, CLOSE_HELP, close),
  report: subcommand(REPORT_FLAGS, REPORT_HELP, report),
  export: subcommand(EXPORT_FLAGS, EXPORT_HELP, exportElection),
};

async function init(
  flags: FlagValues<typeof INIT_FLAGS>,
): Promise<number> {
  if (flags.from !== undefined) {
    if (flags.database === undefined) {
      throw new UsageError(`Option "--from" needs "--database"`);
    }
    for (const other of ["voters", "candidates"] as const) {
      if (flags[other] !== undefined) {
        throw new UsageError(
          `Option "--${other}" cannot be used with "--from" (the roll and ballot come from its files)`,
        );
      }
    }
    return await initDatabaseFrom(
      flags.database,
      flags.from,
      flags.data,
      flags.force,
    );
  }
  const dir = flags.data ?? DEFAULT_DATA;
  const force = flags.force;
  const polls: PollsWindow = {
    opensAt: timeFlag("--opens-at", flags["opens-at"]),
    closesAt: timeFlag("--closes-at", flags["closes-at"]),
  };
  const problem = newWindowProblem(polls, new Date());
  if (problem !== undefined) {
    throw new UsageError(
      `Refusing the polls window: ${problem}`,
    );
  }
  let candidates: string[];
  try {
    candidates = parseCandidateList(
      flags.candidates ?? SEED_CANDIDATES,
    );
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  // A ballot of one is no choice, and the client would ask "(enter 1-1)".
  if (candidates.length < 2) {
    throw new UsageError(
      `Option "--candidates" needs at least 2 candidates, not 1 ("${
        candidates[0]
      }")`,
    );
  }
  const votersPath = flags.voters;
  let roll = SEED_VOTERS;
  if (votersPath !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await readInputFile(votersPath, INPUT_FILE_LIMITS.roll);
    } catch (error) {
      throw new Error(
        `Cannot read voter roll "${votersPath}": ${describeFsError(error)}`,
      );
    }
    let text: string;
    try {
      text = decodeText(bytes);
    } catch (error) {
      if (!(error instanceof NotUtf8Error)) throw error;
      throw new ElectionFileError(
        "voter roll",
        votersPath,
        error.message,
        error.line,
      );
    }
    roll = parseVoterRoll(text, votersPath);
  }
  const credentialsPath = flags.credentials;
  const missing = roll.filter((voter) => voter.password === undefined);
  if (credentialsPath === undefined && missing.length > 0) {
    throw new Error(
      `Cannot create the election: ${
        plural(missing.length, "voter")
      } in "${votersPath}" ${
        missing.length === 1 ? "has" : "have"
      } no password (the first is "${
        missing[0].name
      }"); add --credentials OUT to generate them`,
    );
  }
  if (credentialsPath !== undefined) {
    refuseCredentialsInElection(credentialsPath, dir);
    if (!force) await refuseExisting(credentialsPath);
  }
  const voters = completeRoll(roll);
  const staged = credentialsPath === undefined
    ? undefined
    : await stagePrivateFile(credentialsPath, formatCredentials(voters));
  const bar = Deno.stderr.isTerminal() && voters.length >= 5000
    ? progressBar("encrypting passwords")
    : undefined;
  try {
    if (flags.database !== undefined) {
      await initDatabase(flags.database, dir, {
        voters,
        candidates,
        polls,
        force,
        bar,
      });
    } else {
      await createElection(dir, {
        voters,
        candidates,
        force,
        polls,
        onProgress: bar?.update,
      });
      console.log(
        `created an election in ${dir}/: ${plural(voters.length, "voter")}, ${
          plural(candidates.length, "candidate")
        } (${candidates.join(", ")})`,
      );
    }
  } catch (error) {
    await staged?.discard();
    if (isFsError(error)) {
      throw new Error(
        `Cannot create the election in ${dir}/: ${describeFsError(error)}`,
      );
    }
    throw error;
  } finally {
    bar?.done();
  }
  await staged?.commit();
  console.log(
    `the polls open ${
      polls.opensAt ? `at ${formatTime(polls.opensAt)}` : "at once"
    } and close ${
      polls.closesAt
        ? `at ${formatTime(polls.closesAt)}`
        : "with `deno task server close`"
    }`,
  );
  if (credentialsPath !== undefined) {
    console.log(
      `wrote the credentials of ${plural(voters.length, "voter")} (${
        plural(missing.length, "password")
      } generated) to ${credentialsPath} (mode 0600): give each voter their line, then keep the file offline or delete it`,
    );
  }
  return ExitCode.Ok;
}

async function passwd(
  flags: FlagValues<typeof PASSWD_FLAGS>,
): Promise<number> {
  const dir = flags.data;
  const name = flags.voter;
  const credentialsPath = flags.credentials;
  if (credentialsPath === undefined && stdoutDiscarded()) {
    throw new Error(
      `Refusing to print the new password of "${name}" to /dev/null (standard output is closed or discarded): it would be lost; redirect it to a file or use --credentials FILE`,
    );
  }
  if (credentialsPath !== undefined) {
    refuseCredentialsInElection(credentialsPath, dir);
  }
  // Opened before the password changes: a credentials file that cannot be
  // written is found before a password nobody will see replaces the old.
  using out = credentialsPath === undefined
    ? undefined
    : openForAppend(credentialsPath);
  const password = generatePassword();
  // The new password is shown (or appended and synced) before it replaces
  // the old one: if that fails, nothing changed and the old one still works.
  let delivered = false;
  const deliver = async (voter: { name: string; number: string }) => {
    const line = formatCredentials([{ ...voter, password }]);
    try {
      if (out === undefined) {
        writeAllSync(Deno.stdout, new TextEncoder().encode(line));
      } else {
        await writeAll(out, line);
        await out.sync();
      }
    } catch (error) {
      throw new Error(
        `Cannot write the new password of "${voter.name}" to ${
          credentialsPath === undefined
            ? "standard output"
            : `credentials file "${credentialsPath}"`
        }: ${describeFsError(error)}; the password was not changed`,
      );
    }
    delivered = true;
  };
  const database = flags.database;
  let voter;
  try {
    voter = database === undefined
      ? await changeVoterPassword(dir, name, password, { deliver }).catch(
        (error) => {
          // passwd is no server: "another server" would puzzle the official.
          if (!(error instanceof ElectionLockedError)) throw error;
          throw new Error(
            `A server is serving the election in ${dir}/: stop it first, then run passwd again (a password cannot change while voters log in)`,
          );
        },
      )
      : await changeDatabasePassword(database, dir, name, password, deliver);
  } catch (error) {
    if (!delivered) throw error;
    throw new Error(
      `${
        error instanceof Error ? error.message : String(error)
      } (the new password of "${name}" written ${
        credentialsPath === undefined ? "above" : `to "${credentialsPath}"`
      } was not set: the old one still works)`,
    );
  }
  if (out !== undefined) {
    console.log(
      `appended the new password of ${voter.name} to ${credentialsPath}`,
    );
  }
  return ExitCode.Ok;
}

/**
 * Whether standard output goes to /dev/null: a closed stdout is reopened
 * there at start, and a password printed there is lost. False where there
 * is no /dev/null.
 */
function stdoutDiscarded(): boolean {
  try {
    const out = fstatSync(1);
    return out.isCharacterDevice() && out.rdev === statSync("/dev/null").rdev;
  } catch {
    return false;
  }
}

/** Writes every byte: one `writeSync` may take only part of them. */
function writeAllSync(
  stream: { writeSync(bytes: Uint8Array): number },
  bytes: Uint8Array,
): void {
  for (let written = 0; written < bytes.length;) {
    written += stream.writeSync(bytes.subarray(written));
  }
}

async function close(
  flags: FlagValues<typeof CLOSE_FLAGS>,
): Promise<number> {
  const dir = flags.data;
  const at = timeFlag("--at", flags.at);
  const database = flags.database;
  const target = database === undefined ? undefined : databaseTarget(database);
  const { closesAt, opensAt, closed } = target === undefined
    ? await closeFiles(dir, at)
    : await closeDatabase(target, at);
  const where = target === undefined
    ? `${dir}/`
    : `the database ${target.redacted}`;
  const neverOpen = opensAt?.getTime() === closesAt.getTime()
    ? ", before they opened: they never open"
    : "";
  console.log(
    closed
      ? `the polls in ${where} closed at ${formatTime(closesAt)}${neverOpen}`
      : `the polls in ${where} close at ${formatTime(closesAt)}${neverOpen}`,
  );
  return ExitCode.Ok;
}

/** `close` on an election directory, on this machine's clock. */
async function closeFiles(
  dir: string,
  at: Date | undefined,
): Promise<{ closesAt: Date; opensAt?: Date; closed: boolean }> {
  const now = at === undefined
    ? await wholeSecondNow(() => Promise.resolve(Date.now()))
    : new Date();
  const { closesAt, opensAt } = await setClosingTime(dir, at ?? now, now);
  return { closesAt, opensAt, closed: closesAt <= new Date() };
}

/**
 * "Now" for `close` without `--at`: waits on `clock` until the next whole
 * second and returns it, so that the closing time is in whole seconds like
 * every other time, and has come when `close` goes on to wait for the votes
 * in flight.
 */
async function wholeSecondNow(clock: () => Promise<number>): Promise<Date> {
  const second = nextWholeSecond(await clock());
  for (let ms = await clock(); ms < second.getTime(); ms = await clock()) {
    await new Promise((resolve) => setTimeout(resolve, second.getTime() - ms));
  }
  return second;
}

/**
 * `close --database`, on the database's clock: the one every booth's votes
 * are judged by, whatever the clocks of the booths and of this machine say.
 */
async function closeDatabase(
  target: DatabaseTarget,
  at: Date | undefined,
): Promise<{ closesAt: Date; opensAt?: Date; closed: boolean }> {
  return await withDatabase(target, async (sql) => {
    const keeper = databasePollsKeeper(sql, target.redacted);
    const now = at === undefined
      ? await wholeSecondNow(() => keeper.now())
      : new Date(await keeper.now());
    const { closesAt, opensAt } = await closePolls(keeper, at ?? now, now);
    return {
      closesAt,
      opensAt,
      closed: closesAt.getTime() <= await keeper.now(),
    };
  });
}

async function report(
  flags: FlagValues<typeof REPORT_FLAGS>,
): Promise<number> {
  const dir = flags.data;
  const database = flags.database;
  if (database !== undefined) {
    const target = databaseTarget(database);
    const summary = await withDatabase(
      target,
      (sql) => reportDatabaseElection(sql, target.redacted, reportMoment()),
    );
    printReport(
      summary,
      flags.json === true,
      `the database ${target.redacted}`,
    );
    return ExitCode.Ok;
  }
  let summary;
  try {
    summary = await reportElection(dir, reportMoment());
  } catch (error) {
    if (error instanceof ElectionInconsistentError) {
      throw new Error(
        `Cannot report: ${error.message} (run \`deno task server verify --data ${dir}\` for every problem)`,
      );
    }
    throw error;
  }
  printReport(summary, flags.json === true, `${dir}/`);
  return ExitCode.Ok;
}

/**
 * The moment a report describes: the whole second it runs in, as every time
 * the election keeps (the state is judged at that moment too, so it agrees
 * with the times printed).
 */
function reportMoment(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000);
}

function printReport(
  summary: ElectionReportSummary,
  json: boolean,
  where: string,
): void {
  if (json) {
    console.log(JSON.stringify(summary, null, 2));
  } else {
    console.log(`Election in ${where}, reported at ${summary.reportedAt}`);
    for (const line of formatReport(summary, winnerLine)) console.log(line);
  }
}

/** `passwd --database`: K from DIR/symkey seals the new password. */
async function changeDatabasePassword(
  url: string,
  dir: string,
  name: string,
  password: string,
  deliver: (voter: { name: string; number: string }) => Promise<void>,
): Promise<{ name: string; number: string }> {
  const target = databaseTarget(url);
  await checkPrivateFile(join(dir, "symkey"), "key file", Deno.uid());
  const key = await readElectionKey(dir);
  return await withDatabase(target, async (sql) => {
    // A wrong K would seal the new password so that it never matches.
    await checkDatabaseKey(sql, key, {
      keyPath: join(dir, "symkey"),
      redacted: target.redacted,
    });
    return await changeDatabaseVoterPassword(
      sql,
      key,
      name,
      password,
      target.redacted,
      { deliver },
    );
  });
}

function timeFlag(
  flag: string,
  value: string | undefined,
): Date | undefined {
  if (value === undefined) return undefined;
  const time = parseTimeWithOffset(value);
  if (time === undefined) {
    throw new UsageError(
      `Option "${flag}" takes an ISO 8601 time with an offset (e.g. 2026-11-26T20:00:00+01:00), not "${value}"`,
    );
  }
  return time;
}

/**
 * Refuses a credentials file inside the election directory: the election's
 * own files (`passwords.tmp` is init's staging name too) would be
 * overwritten or overwrite it, and passwords in clear do not belong beside
 * K.
 */
function refuseCredentialsInElection(path: string, dir: string): void {
  const real = (at: string) => {
    try {
      return Deno.realPathSync(at);
    } catch {
      return resolve(at);
    }
  };
  const election = real(dir);
  const folder = real(dirname(resolve(path)));
  if (folder === election || folder.startsWith(`${election}${SEPARATOR}`)) {
    throw new UsageError(
      `Option "--credentials" names a file in the election directory ${dir}/ ("${path}"): write the voters' passwords outside it`,
    );
  }
}

async function refuseExisting(path: string): Promise<void> {
  try {
    await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new Error(
      `Cannot write credentials file "${path}": ${describeFsError(error)}`,
    );
  }
  throw new Error(
    `Credentials file "${path}" exists: use --force to replace it`,
  );
}

/**
 * Writes a private file beside its final path, to be renamed into place once
 * the election exists, or removed if it cannot be created: the credentials
 * never describe an election that was not made.
 */
async function stagePrivateFile(path: string, text: string) {
  const staging = `${path}.tmp`;
  try {
    await Deno.remove(staging).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    using file = await Deno.open(staging, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    await writeAll(file, text);
    await file.sync();
  } catch (error) {
    // Creating the file says "not found" when its folder is missing.
    const problem = error instanceof Deno.errors.NotFound
      ? `its directory "${dirname(path)}" does not exist`
      : describeFsError(error);
    throw new Error(`Cannot write credentials file "${path}": ${problem}`);
  }
  return {
    commit: () =>
      Deno.rename(staging, path).catch((error) => {
        throw new Error(
          `The election was created but its credentials are still in "${staging}": ${
            describeFsError(error)
          } (move the file to "${path}")`,
        );
      }),
    discard: () => Deno.remove(staging).catch(() => {}),
  };
}

/** Opens a private file for appending, refusing one others can read. */
function openForAppend(path: string): Deno.FsFile {
  try {
    return openPrivateForAppend(path, "credentials file", Deno.uid());
  } catch (error) {
    if (error instanceof ExposedFileError) throw error;
    if (error instanceof UnsafeFileError) {
      throw new Error(
        `Refusing to append to credentials file "${path}": ${error.detail}`,
      );
    }
    throw new Error(
      `Cannot write credentials file "${path}": ${describeFsError(error)}`,
    );
  }
}

async function writeAll(file: Deno.FsFile, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  for (let written = 0; written < bytes.length;) {
    written += await file.write(bytes.subarray(written));
  }
}

async function verify(
  flags: FlagValues<typeof VERIFY_FLAGS>,
): Promise<number> {
  const dir = flags.data;
  if (flags.database !== undefined) {
    return await verifyDatabase(flags.database, dir);
  }
  const { turnout, problems, interruptedVote } = await verifyElection(dir);
  console.log(
    turnout === undefined
      ? "turnout unknown"
      : `turnout ${turnout.voted}/${turnout.registered}`,
  );
  if (interruptedVote) {
    console.log(
      "an interrupted vote (journal) will be rolled back when the server starts",
    );
  }
  return printVerdict(problems);
}

async function kit(
  flags: FlagValues<typeof KIT_FLAGS>,
): Promise<number> {
  const { host, out, port, name } = flags;
  const badHost = hostProblem(host);
  if (badHost) {
    throw new UsageError(
      `Option "--host" is not valid: ${badHost} ("${host}")`,
    );
  }
  const badName = nameProblem(name);
  if (badName) {
    throw new UsageError(`Option "--name" is not valid: ${badName}`);
  }
  const certPath = flags.cert;
  const caPath = flags.ca;
  const cert = await readTlsFile(certPath, "TLS certificate");
  const ca = await readTlsFile(caPath, "CA certificate");
  let election;
  try {
    election = makeElectionKit({
      name,
      host,
      port,
      cert,
      certPath,
      ca,
      caPath,
    });
  } catch (error) {
    if (error instanceof KitError) {
      printError(error.message);
      return ExitCode.Failure;
    }
    throw error;
  }
  const kitPath = join(out, KIT_FILE_NAME);
  const readmePath = join(out, "README.txt");
  await writeKitFiles(out, [
    [kitPath, formatElectionKit(election)],
    [readmePath, voterReadme(election)],
  ], flags.force);
  console.log(
    `wrote ${kitPath} and ${readmePath}: ${name} (${kitAddress(election)})`,
  );
  return ExitCode.Ok;
}

/** The parsed `--database` URL, the password from it or `PGPASSWORD`. */
function databaseTarget(url: string): DatabaseTarget {
  try {
    return parseDatabaseUrl(url, Deno.env.get("PGPASSWORD"));
  } catch (error) {
    if (error instanceof DatabaseUrlError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Runs `work` with a pool on the database, turning an unreachable database
 * into one line that names it without its password.
 */
async function withDatabase<T>(
  target: DatabaseTarget,
  work: (sql: Sql) => Promise<T>,
): Promise<T> {
  const sql = connectDatabase(target, { max: 2 });
  try {
    return await work(sql);
  } catch (error) {
    if (
      error instanceof UsageError || error instanceof NoDatabaseElectionError ||
      error instanceof ElectionExistsError || error instanceof StorageError ||
      error instanceof ElectionFileError ||
      error instanceof WrongElectionKeyError
    ) {
      throw error;
    }
    if (sqlState(error) === undefined) throw error;
    throw new Error(
      `Cannot use the database "${target.redacted}": ${
        describeDatabaseError(error)
      }`,
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function initDatabase(
  url: string,
  dir: string,
  options: {
    voters: RollEntry[];
    candidates: string[];
    polls: PollsWindow;
    force: boolean;
    bar?: ProgressBar;
  },
): Promise<void> {
  const target = databaseTarget(url);
  // A database that cannot be reached or refuses the login is found out
  // before DIR gets a key for it.
  await withDatabase(target, (sql) => sql`SELECT 1`);
  const { key, undo } = await keyForDatabase(
    dir,
    `the database "${target.redacted}"`,
    parseKey,
  );
  await withDatabase(target, (sql) =>
    writeDatabaseElection(sql, {
      candidates: options.candidates,
      voters: sealRoll(key, options.voters),
      voterCount: options.voters.length,
      totals: options.candidates.map(() => 0),
      history: [],
      polls: options.polls,
      keyCheck: keyCheckValue(key),
    }, {
      redacted: target.redacted,
      force: options.force,
      onProgress: options.bar?.update,
    })).catch(async (error) => {
      // Refused before anything was written: DIR is left as it was.
      if (error instanceof ElectionExistsError) await undo();
      throw error;
    });
  console.log(
    `created an election in the database ${target.redacted} (K in ${dir}/symkey): ${options.voters.length} voters, ${options.candidates.length} candidates (${
      options.candidates.join(", ")
    })`,
  );
}

async function initDatabaseFrom(
  url: string,
  from: string,
  data: string | undefined,
  force: boolean,
): Promise<number> {
  const target = databaseTarget(url);
  const paths = electionPaths(from);
  // Held for the whole move: a booth serving the files would go on
  // recording votes the database never sees, and a voter could vote twice.
  await refuseNonDirectory(from);
  if (lstatOrUndefined(from) === undefined) throw new NoElectionError(from);
  const ops = denoFileOps();
  try {
    await lockElection(paths, ops).catch((error) => {
      if (!(error instanceof ElectionLockedError)) throw error;
      throw new Error(
        `A server is serving the election in ${from}/: stop it first, then move the election (its votes would not follow it into the database)`,
      );
    });
    await refuseMovedElection(paths);
    const { state, problems, polls } = await inspectElection(from);
    if (problems.length > 0) {
      throw new Error(
        `Refusing to move the election in ${from}/: ${
          problems[0]
        } (run \`deno task server verify --data ${from}\` for every problem)`,
      );
    }
    const where = `the database "${target.redacted}"`;
    if (data !== undefined && data !== from) {
      await refuseForeignKeyDirectory(electionPaths(data), where);
      await copyKey(from, data);
      await markDatabaseKey(electionPaths(data), ops, where);
    }
    await withDatabase(target, (sql) =>
      writeDatabaseElection(sql, {
        candidates: state.candidates,
        voters: state.voters,
        voterCount: state.voters.length,
        totals: state.totals,
        history: state.history,
        polls,
        keyCheck: keyCheckValue(state.key),
      }, { redacted: target.redacted, force }));
    await markDatabaseKey(paths, ops, where).then(() =>
      markElectionMoved(
        paths,
        ops,
        `the database ${target.redacted}`,
        new Date(),
      )
    ).catch((error) => {
      throw new Error(
        `The election is in the database ${target.redacted}, but ${from}/ could not be marked as moved: ${
          describeFsError(error)
        } (never serve ${from}/ again: move it away)`,
      );
    });
    console.log(
      `moved the election in ${from}/ into the database ${target.redacted} (K stays in ${
        data ?? from
      }/symkey): ${plural(state.voters.length, "voter")}, ${
        plural(state.history.length, "vote")
      }; ${from}/ is marked as moved and no longer served`,
    );
    return ExitCode.Ok;
  } finally {
    ops.close();
  }
}

/** Copies `symkey` to `to`, refusing to overwrite a different key. */
async function copyKey(from: string, to: string): Promise<void> {
  const text = await Deno.readTextFile(join(from, "symkey"));
  const existing = await Deno.readTextFile(join(to, "symkey")).catch(
    (error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    },
  );
  if (existing === text) return;
  if (existing !== undefined) {
    throw new Error(
      `"${join(to, "symkey")}" holds a different key than "${
        join(from, "symkey")
      }": remove it or choose another --data`,
    );
  }
  await Deno.mkdir(to, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(join(to, "symkey"), text, {
    mode: 0o600,
    createNew: true,
  });
}

/**
 * Reads the database election with K from `dir/symkey` (a private file),
 * refusing with one line, not one per voter, a K that is another election's.
 */
async function readDatabaseUnderKey(
  target: DatabaseTarget,
  dir: string,
): Promise<{ key: Uint8Array; snapshot: DatabaseSnapshot }> {
  await checkPrivateFile(join(dir, "symkey"), "key file", Deno.uid());
  const key = await readElectionKey(dir);
  const snapshot = await withDatabase(
    target,
    (sql) => readDatabaseElection(sql, target.redacted),
  );
  refuseWrongKey(snapshot.keyCheck, key, join(dir, "symkey"));
  return { key, snapshot };
}

async function verifyDatabase(url: string, dir: string): Promise<number> {
  const { key, snapshot } = await readDatabaseUnderKey(
    databaseTarget(url),
    dir,
  );
  const { voted, registered, problems } = auditDatabaseElection(
    snapshot,
    key,
  );
  console.log(`turnout ${voted}/${registered}`);
  return printVerdict(problems);
}

async function exportElection(
  flags: FlagValues<typeof EXPORT_FLAGS>,
): Promise<number> {
  const out = flags.to;
  const target = databaseTarget(flags.database);
  const dir = flags.data;
  // An export under another election's K would hold a roll nobody can use.
  const { snapshot } = await readDatabaseUnderKey(target, dir);
  // K is copied as it is in DIR, byte for byte.
  const symkey = await Deno.readTextFile(join(dir, "symkey"));
  await prepareEmptyDirectory(out);
  const files = electionFiles(snapshot);
  const paths = electionPaths(out);
  const write = (path: string, text: string) =>
    Deno.writeTextFile(path, text, { mode: 0o600, createNew: true });
  await write(paths.symkey, symkey);
  await write(paths.passwords, files.passwords);
  await write(paths.candidates, files.candidates);
  await write(paths.result, files.result);
  if (files.history !== "") await write(paths.history, files.history);
  await write(paths.polls, files.polls);
  console.log(
    `exported the election in ${target.redacted} to ${out}/: ${snapshot.voters.length} voters, ${snapshot.history.length} votes`,
  );
  console.log(
    `${out}/ holds K (symkey): keep it private, and serve it only once the database election is over (it is a copy, not a second live election)`,
  );
  return ExitCode.Ok;
}

/** Creates `dir` (mode 0700) or accepts it when it exists and is empty. */
async function prepareEmptyDirectory(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { mode: 0o700 });
    return;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      throw new Error(`Cannot create "${dir}": ${describeFsError(error)}`);
    }
  }
  for await (const _ of Deno.readDir(dir)) {
    throw new Error(
      `Refusing to export into "${dir}": it is not empty (choose a new directory)`,
    );
  }
}

/**
 * Writes the kit's files, all or none refused before any is written: never
 * through a symbolic link (`--out` may be a shared folder where someone left
 * `election.json -> somewhere precious`), and an existing file only with
 * `--force`, then replaced by a new file renamed over it, never written in
 * place.
 */
async function writeKitFiles(
  out: string,
  files: [path: string, text: string][],
  force: boolean,
): Promise<void> {
  const cannot = (error: unknown) =>
    new Error(`Cannot write the kit in "${out}": ${describeFsError(error)}`);
  try {
    await Deno.mkdir(out, { recursive: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Error(
        `Cannot write the kit in "${out}": it is a file; --out takes a directory`,
      );
    }
    throw cannot(error);
  }
  for (const [path] of files) {
    const info = lstatOrUndefined(path);
    if (info === undefined) continue;
    if (info.isSymlink) {
      throw new Error(
        `Refusing to write kit file "${path}": it is a symbolic link; remove it first`,
      );
    }
    if (!info.isFile) {
      throw new Error(
        `Refusing to write kit file "${path}": it is not a regular file`,
      );
    }
    if (!force) {
      throw new Error(`Kit file "${path}" exists: use --force to replace it`);
    }
  }
  try {
    for (const [path, text] of files) {
      if (!force) {
        // Created new: fails, rather than follows, whatever appeared since.
        using file = await Deno.open(path, {
          write: true,
          createNew: true,
          mode: 0o644,
        });
        await writeAll(file, text);
        continue;
      }
      const temporary = await Deno.makeTempFile({
        dir: dirname(path),
        prefix: `.${basename(path)}.`,
        suffix: ".tmp",
      });
      try {
        await Deno.chmod(temporary, 0o644);
        await Deno.writeTextFile(temporary, text);
        await Deno.rename(temporary, path);
      } catch (error) {
        await Deno.remove(temporary).catch(() => {});
        throw error;
      }
    }
  } catch (error) {
    throw cannot(error);
  }
}

async function serve(
  flags: FlagValues<typeof SERVE_FLAGS>,
): Promise<number> {
  const options = {
    hostname: flags.hostname,
    port: flags.port,
    engine: flags["tls-engine"],
    loginGraceSeconds: flags["login-grace"],
    idleTimeoutSeconds: flags["idle-timeout"],
    maxConnections: flags["max-connections"],
    maxStartupsPerAddress: flags["max-startups-per-address"],
    lockoutThreshold: flags["lockout-threshold"],
    lockoutSeconds: flags["lockout-seconds"],
  };
  const fitted = fitConnections(
    options.maxConnections,
    freeDescriptors(options.maxConnections + RESERVED_DESCRIPTORS),
  );
  options.maxConnections = fitted.maxConnections;
  const dir = flags.data;
  const certPath = flags.cert;
  const keyPath = flags.key;
  const cert = await readTlsFile(certPath, "TLS certificate");
  await checkPrivateFile(keyPath, "TLS private key", Deno.uid());
  const key = await readTlsFile(keyPath, "TLS private key");
  // Checked here because the node engine would listen and then fail every
  // handshake, and the deno engine's refusal names neither file.
  const pairProblem = keyPairProblem(cert, key);
  if (pairProblem !== undefined) {
    throw new Error(
      `Cannot use TLS certificate "${certPath}" with private key "${keyPath}": ${pairProblem}`,
    );
  }
  const quiet = flags.quiet;
  // The security log, and every line the server prints while it runs, goes
  // through one writer that never blocks: a stalled reader of stderr (an SSH
  // session gone quiet, Ctrl-S on a terminal) must not stop the booth.
  const colored = colorEnabled(Deno.stderr);
  const securityLog = new LogWriter(Deno.stderr, {
    droppedLine: (dropped) =>
      paint(
        `${timestamp()} server ${describeDropped(dropped)}`,
        "yellow",
        colored,
      ),
  });
  const print = (line: string, color: Color | "none") =>
    securityLog.write(color === "none" ? line : paint(line, color, colored));
  try {
    const database = flags.database;
    const target = database === undefined
      ? undefined
      : databaseTarget(database);
    let databaseKey: Uint8Array | undefined;
    if (target !== undefined) {
      // Checked before the booth announces itself: with another election's
      // K every login would fail and count toward the shared lockout.
      await checkPrivateFile(join(dir, "symkey"), "key file", Deno.uid());
      const key = databaseKey = await readElectionKey(dir);
      await withDatabase(target, (sql) =>
        checkDatabaseKey(sql, key, {
          keyPath: join(dir, "symkey"),
          redacted: target.redacted,
        }));
    }
    const databaseStore = target === undefined
      ? undefined
      : await openDatabaseStore(target, `${options.hostname}:${options.port}`);
    await using store: BoothStore = databaseStore ??
      await openStore(dir, (line) => print(line, "yellow"));
    // On PostgreSQL the lockout counts live in the database, shared by every
    // booth; declared after the store, the ledger is closed before it.
    await using ledger = databaseStore?.lockoutLedger();
    const verifier = new PasswordVerifier(
      databaseKey ?? await readElectionKey(dir),
    );

    if (fitted.note) print(fitted.note, "yellow");
    const log = (peer: string, event: string, warning: boolean) => {
      if (quiet && !warning) return;
      print(
        escapeLogLine(`${timestamp()} ${peer} ${event}`),
        warning ? "yellow" : "none",
      );
    };
    // Declared after the store, the server is disposed of before it.
    await using server = await startBoothServer(
      store,
      { ...options, cert, key, verifier, log, ledger },
    ).catch((error) => {
      throw new Error(
        `Cannot listen on ${options.hostname}:${options.port}: ${
          describeListenError(error)
        }`,
      );
    });
    const tally = await store.tally();
    if (!quiet) {
      print(
        `election in ${
          target === undefined ? `${dir}/` : `the database ${target.redacted}`
        }: ${plural(tally.registered, "voter")}, ${
          plural(store.candidates.length, "candidate")
        }, turnout ${tally.voted}/${tally.registered}; TLS engine ${options.engine}`,
        "green",
      );
    }
    // The signals are handled before "listening on" is printed: whoever
    // waits for that line may stop the server at once.
    const stopped = Promise.withResolvers<string>();
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => stopped.resolve(signal));
    }
    // Whoever waits for "listening on" finds the start-up lines (a rollback,
    // the election's summary) on stderr already.
    await securityLog.drain(LOG_DRAIN_MS);
    console.log(`listening on ${server.hostname}:${server.port}`);
    const signal = await stopped.promise;
    // The ledger sends the clears of the last successes on the store's pool:
    // closed after the server and before the store, as their disposal would.
    await closeBooth({ server, ledger, store });
    if (!quiet) print(`${timestamp()} server stopped (${signal})`, "none");
    return ExitCode.Ok;
  } finally {
    await securityLog.drain(LOG_DRAIN_MS);
  }
}

/**
 * How long a starting or stopping server waits for a stalled reader of its
 * log before it goes on (starting) or exits (stopping) anyway.
 */
const LOG_DRAIN_MS = 5_000;

/**
 * The election in PostgreSQL for one booth: a bounded pool, the ballot read,
 * this booth announced in `booth.servers`.
 */
async function openDatabaseStore(
  target: DatabaseTarget,
  address: string,
): Promise<PostgresStore> {
  return await PostgresStore.open(target, { address });
}

async function openStore(
  dir: string,
  warn: (line: string) => void,
): Promise<FileBoothStore> {
  try {
    return await FileBoothStore.open(dir, {
      onRollback: (rollback) =>
        warn(`${timestamp()} ${describeRollback(rollback)}`),
      onPollsUnreadable: (error) =>
        warn(
          `${timestamp()} ${error.message}; the server keeps the polls window it last read until the file is fixed`,
        ),
    });
  } catch (error) {
    if (error instanceof ElectionInconsistentError) {
      throw new Error(
        `Refusing to serve: ${error.message} (run \`deno task server verify --data ${dir}\` for every problem)`,
      );
    }
    if (
      error instanceof NoElectionError ||
      error instanceof NotADirectoryError ||
      error instanceof ElectionFileError ||
      error instanceof ElectionLockedError ||
      error instanceof ElectionMovedError ||
      error instanceof ExposedFileError ||
      error instanceof UnsafeFileError
    ) {
      throw error;
    }
    throw new Error(
      `Cannot open the election in ${dir}/: ${describeFsError(error)}`,
    );
  }
}

async function readTlsFile(path: string, what: string): Promise<string> {
  try {
    return await readInputText(path, INPUT_FILE_LIMITS.small);
  } catch (error) {
    throw new Error(
      `Cannot read ${what} "${path}": ${
        describeFsError(error)
      } (run \`make certs\` to create one)`,
    );
  }
}

/** Why listening failed, by the error's type or code (node:tls sets `code`). */
function describeListenError(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (error instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    return "the address is already in use (is another server running?)";
  }
  if (error instanceof Deno.errors.PermissionDenied || code === "EACCES") {
    return "permission denied (ports below 1024 need privileges)";
  }
  return error instanceof Error ? error.message : String(error);
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Prints `consistent`, or each problem on a line of its own; the exit status. */
function printVerdict(problems: string[]): number {
  if (problems.length === 0) {
    console.log("consistent");
    return ExitCode.Ok;
  }
  for (const problem of problems) console.log(problem);
  return ExitCode.Failure;
}

function printHelp(text: string): number {
  console.log(text);
  return ExitCode.Ok;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
