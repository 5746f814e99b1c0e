/**
 * The voting server's command line: `init` creates an election, `serve` (the
 * default) serves it over TLS, `verify` checks its files, `kit` writes the
 * voters' `election.json`.
 *
 * @module
 */

import { startBoothServer } from "./lib/server/booth_server.ts";
import { colorEnabled, paint } from "./lib/terminal/colors.ts";
import {
  ExitCode,
  integerFlag,
  parseFlags,
  printError,
  UsageError,
  VERSION,
} from "./lib/terminal/cli.ts";
import {
  ElectionFileError,
  parseCandidateList,
  parseVoterRoll,
} from "./lib/election/election_files.ts";
import type { RollEntry } from "./lib/election/election_files.ts";
import { describeFsError, UnsafeFileError } from "./lib/store/file_ops.ts";
import {
  checkPrivateFile,
  ExposedFileError,
} from "./lib/store/private_file.ts";
import { progressBar } from "./lib/terminal/progress.ts";
import { PasswordVerifier } from "./lib/election/booth.ts";
import { createElection } from "./lib/store/create_election.ts";
import {
  ElectionInconsistentError,
  ElectionLockedError,
  NoElectionError,
} from "./lib/store/election_dir.ts";
import {
  inspectElection,
  readElectionKey,
} from "./lib/store/election_state.ts";
import { FileBoothStore } from "./lib/store/file_store.ts";
import { describeRollback } from "./lib/store/journal.ts";
import type { TlsEngine } from "./lib/wire/transport.ts";
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
import { join } from "node:path";

/** The seed's voters, the default roll of `server init`. */
const SEED_VOTERS: RollEntry[] = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
  { name: "Tom", number: "1154571", password: "9012" },
];
const SEED_CANDIDATES = "Chris,Linda";

const SERVE_HELP =
  `election-server ${VERSION}: the secure election booth's voting server

Usage:
  deno task server [serve] [options]   serve the election over TLS (the default)
  deno task server init [options]      create an election (see init --help)
  deno task server verify [options]    check an election's files (see verify --help)
  deno task server kit [options]       write the voters' election.json (see kit --help)

Options of serve:
  --hostname HOST          address to listen on (default 127.0.0.1)
  --port PORT              TCP port, 0 for any free one (default 4443)
  --data DIR               election directory, mode 0700, no links (default data)
  --cert FILE              server certificate, PEM (default certs/server.crt)
  --key FILE               server private key, PEM, mode 0600 (default certs/server.key)
  --tls-engine node|deno   TLS engine (default node; deno cannot reap
                           sockets that never finish their handshake)
  --login-grace SECONDS    time to finish TLS and log in (default 60)
  --idle-timeout SECONDS   a logged-in session's longest silence (default 300)
  --max-connections N      open connections at most (default 1000)
  --lockout-threshold N    failed logins that lock a registration number (default 5)
  --lockout-seconds S      first lockout; doubles up to 900 (default 30)
  --quiet                  log only failures, lockouts, refusals and abnormal ends
  -h, --help               show this help
  --version                show the version

Prints "listening on HOST:PORT" on stdout once it accepts connections, a
security log on stderr, and stops cleanly on SIGINT or SIGTERM.`;

const INIT_HELP = `Usage: deno task server init [options]

Creates an election: a fresh random key K in symkey, the voter file
passwords (E(K, H(password)) per voter), candidates, and a result of zeros.

Options:
  --data DIR            election directory, made mode 0700 (default data)
  --voters FILE         voter roll, one "<name> <registration number> <password>"
                        per line; blank lines and # comments are ignored
                        (default: the seed's Alice, Bob and Tom)
  --candidates A,B,...  candidates in ballot order (default ${SEED_CANDIDATES})
  --force               replace an existing election, votes included
  -h, --help            show this help
  --version             show the version`;

const VERIFY_HELP = `Usage: deno task server verify [options]

Checks an election's files against each other without changing them and
prints the turnout, then "consistent" or each problem found. Exit status 0
when consistent, 1 otherwise. It cannot tell who voted for whom.

Options:
  --data DIR    election directory (default data)
  -h, --help    show this help
  --version     show the version`;

const KIT_HELP = `Usage: deno task server kit --host HOST --out DIR [options]

Writes DIR/election.json, what the voter's client needs to find this
election: its display name, host, port and CA certificate (nothing secret),
and DIR/README.txt, three lines for voters. Publish both with the client
binaries, or build them in: make build ELECTION=DIR/election.json.
Refuses a host the server certificate does not cover, and a CA that did not
sign it.

Options:
  --host HOST     host name or address voters connect to (required)
  --port PORT     port voters connect to (default 4443)
  --cert FILE     server certificate, PEM (default certs/server.crt)
  --ca FILE       CA certificate that signed it, PEM (default certs/ca.crt)
  --name NAME     the election's display name (default "Election")
  --out DIR       where to write the kit (required; created if missing)
  -h, --help      show this help
  --version       show the version`;

const COMMON_FLAGS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/**
 * Runs the server's command line.
 *
 * @param args The arguments, e.g. `Deno.args`.
 * @returns The exit status.
 */
export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  try {
    switch (first) {
      case "init":
        return await init(rest);
      case "verify":
        return await verify(rest);
      case "kit":
        return await kit(rest);
      case "serve":
        return await serve(rest);
      default:
        return await serve(args);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      printError(`${error.message} (see --help)`);
      return ExitCode.Usage;
    }
    printError(error instanceof Error ? error.message : String(error));
    return ExitCode.Failure;
  }
}

async function init(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
    ...COMMON_FLAGS,
    data: { type: "string" },
    voters: { type: "string" },
    candidates: { type: "string" },
    force: { type: "boolean" },
  });
  if (flags.help) return printHelp(INIT_HELP);
  if (flags.version) return printHelp(`election-server ${VERSION}`);
  const dir = (flags.data as string | undefined) ?? "data";
  let candidates: string[];
  try {
    candidates = parseCandidateList(
      (flags.candidates as string | undefined) ?? SEED_CANDIDATES,
    );
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const votersPath = flags.voters as string | undefined;
  let voters = SEED_VOTERS;
  if (votersPath !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(votersPath);
    } catch (error) {
      throw new Error(
        `Cannot read voter roll "${votersPath}": ${describeFsError(error)}`,
      );
    }
    voters = parseVoterRoll(text, votersPath);
  }
  const bar = Deno.stderr.isTerminal() && voters.length >= 5000
    ? progressBar("encrypting passwords")
    : undefined;
  try {
    await createElection(dir, {
      voters,
      candidates,
      force: flags.force === true,
      onProgress: bar?.update,
    });
  } finally {
    bar?.done();
  }
  console.log(
    `created an election in ${dir}/: ${voters.length} voters, ${candidates.length} candidates (${
      candidates.join(", ")
    })`,
  );
  return ExitCode.Ok;
}

async function verify(args: string[]): Promise<number> {
  const flags = parseFlags(args, { ...COMMON_FLAGS, data: { type: "string" } });
  if (flags.help) return printHelp(VERIFY_HELP);
  if (flags.version) return printHelp(`election-server ${VERSION}`);
  const dir = (flags.data as string | undefined) ?? "data";
  let report;
  try {
    report = await inspectElection(dir);
  } catch (error) {
    if (error instanceof NoElectionError) throw error;
    if (error instanceof ElectionFileError) {
      console.log(error.message);
      return ExitCode.Failure;
    }
    throw error;
  }
  const { state, problems } = report;
  console.log(`turnout ${state.history.length}/${state.voters.length}`);
  if (report.interruptedVote) {
    console.log(
      "an interrupted vote (journal) will be rolled back when the server starts",
    );
  }
  if (problems.length === 0) {
    console.log("consistent");
    return ExitCode.Ok;
  }
  for (const problem of problems) console.log(problem);
  return ExitCode.Failure;
}

async function kit(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
    ...COMMON_FLAGS,
    host: { type: "string" },
    port: { type: "string" },
    cert: { type: "string" },
    ca: { type: "string" },
    name: { type: "string" },
    out: { type: "string" },
  });
  if (flags.help) return printHelp(KIT_HELP);
  if (flags.version) return printHelp(`election-server ${VERSION}`);
  const required = (name: string): string => {
    const value = flags[name] as string | undefined;
    if (value === undefined) {
      throw new UsageError(`Option "--${name}" is required`);
    }
    return value;
  };
  const host = required("host");
  const out = required("out");
  const port = integerFlag(
    "--port",
    (flags.port as string | undefined) ?? "4443",
    1,
    65535,
  );
  const name = (flags.name as string | undefined) ?? "Election";
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
  const certPath = (flags.cert as string | undefined) ?? "certs/server.crt";
  const caPath = (flags.ca as string | undefined) ?? "certs/ca.crt";
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
  try {
    await Deno.mkdir(out, { recursive: true });
    await Deno.writeTextFile(kitPath, formatElectionKit(election), {
      mode: 0o644,
    });
    await Deno.writeTextFile(readmePath, voterReadme(election), {
      mode: 0o644,
    });
  } catch (error) {
    throw new Error(
      `Cannot write the kit in "${out}": ${describeFsError(error)}`,
    );
  }
  console.log(
    `wrote ${kitPath} and ${readmePath}: ${name} (${kitAddress(election)})`,
  );
  return ExitCode.Ok;
}

async function serve(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
    ...COMMON_FLAGS,
    hostname: { type: "string" },
    port: { type: "string" },
    data: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    "tls-engine": { type: "string" },
    "login-grace": { type: "string" },
    "idle-timeout": { type: "string" },
    "max-connections": { type: "string" },
    "lockout-threshold": { type: "string" },
    "lockout-seconds": { type: "string" },
    quiet: { type: "boolean" },
  });
  if (flags.help) return printHelp(SERVE_HELP);
  if (flags.version) return printHelp(`election-server ${VERSION}`);
  const text = (name: string, fallback: string) =>
    (flags[name] as string | undefined) ?? fallback;
  const engine = text("tls-engine", "node");
  if (engine !== "node" && engine !== "deno") {
    throw new UsageError(
      `Option "--tls-engine" takes node or deno, not "${engine}"`,
    );
  }
  const options = {
    hostname: text("hostname", "127.0.0.1"),
    port: integerFlag("--port", text("port", "4443"), 0, 65535),
    engine: engine as TlsEngine,
    loginGraceSeconds: integerFlag(
      "--login-grace",
      text("login-grace", "60"),
      1,
      86400,
    ),
    idleTimeoutSeconds: integerFlag(
      "--idle-timeout",
      text("idle-timeout", "300"),
      1,
      86400,
    ),
    maxConnections: integerFlag(
      "--max-connections",
      text("max-connections", "1000"),
      1,
      1_000_000,
    ),
    lockoutThreshold: integerFlag(
      "--lockout-threshold",
      text("lockout-threshold", "5"),
      1,
      1000,
    ),
    lockoutSeconds: integerFlag(
      "--lockout-seconds",
      text("lockout-seconds", "30"),
      1,
      900,
    ),
  };
  const dir = text("data", "data");
  const certPath = text("cert", "certs/server.crt");
  const keyPath = text("key", "certs/server.key");
  const cert = await readTlsFile(certPath, "TLS certificate");
  await checkPrivateFile(keyPath, "TLS private key", Deno.uid());
  const key = await readTlsFile(keyPath, "TLS private key");
  const quiet = flags.quiet === true;
  await using store = await openStore(dir);
  const verifier = new PasswordVerifier(await readElectionKey(dir));

  const securityLog = batchedLines(Deno.stderr);
  const log = (peer: string, event: string, warning: boolean) => {
    if (quiet && !warning) return;
    const line = `${timestamp()} ${peer} ${event}`;
    securityLog.write(
      paint(line, "yellow", warning && colorEnabled(Deno.stderr)),
    );
  };
  // Declared after the store, the server is disposed of before it.
  await using server = await startBoothServer(
    store,
    { ...options, cert, key, verifier, log },
  ).catch((error) => {
    throw new Error(
      `Cannot listen on ${options.hostname}:${options.port}: ${
        describeListenError(error)
      }`,
    );
  });
  const tally = await store.tally();
  if (!quiet) {
    printError(
      `election in ${dir}/: ${tally.registered} voters, ${store.candidates.length} candidates, turnout ${tally.voted}/${tally.registered}; TLS engine ${options.engine}`,
      "green",
    );
  }
  console.log(`listening on ${server.hostname}:${server.port}`);
  const stopped = Promise.withResolvers<string>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => stopped.resolve(signal));
  }
  const signal = await stopped.promise;
  await server.close();
  await store.close();
  securityLog.flush();
  if (!quiet) printError(`${timestamp()} server stopped (${signal})`, "none");
  return ExitCode.Ok;
}

async function openStore(dir: string): Promise<FileBoothStore> {
  try {
    return await FileBoothStore.open(dir, {
      onRollback: (rollback) =>
        printError(`${timestamp()} ${describeRollback(rollback)}`, "yellow"),
    });
  } catch (error) {
    if (error instanceof ElectionInconsistentError) {
      throw new Error(
        `Refusing to serve: ${error.message} (run \`deno task server verify --data ${dir}\` for every problem)`,
      );
    }
    if (
      error instanceof NoElectionError ||
      error instanceof ElectionFileError ||
      error instanceof ElectionLockedError ||
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
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(
      `Cannot read ${what} "${path}": ${
        describeFsError(error)
      } (run \`make certs\` to create one)`,
    );
  }
}

function describeListenError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/EADDRINUSE|in use/i.test(message)) {
    return "the address is already in use (is another server running?)";
  }
  if (/EACCES|permission/i.test(message)) {
    return "permission denied (ports below 1024 need privileges)";
  }
  return message;
}

/**
 * Lines written together, at most 10 ms late: under load one write carries
 * dozens of log lines instead of one system call each.
 */
function batchedLines(stream: { writeSync(bytes: Uint8Array): number }) {
  let pending = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const bytes = new TextEncoder().encode(pending);
    pending = "";
    for (let written = 0; written < bytes.length;) {
      written += stream.writeSync(bytes.subarray(written));
    }
  };
  return {
    write(line: string) {
      pending += `${line}\n`;
      timer ??= setTimeout(flush, 10);
    },
    flush,
  };
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function printHelp(text: string): number {
  console.log(text);
  return ExitCode.Ok;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
