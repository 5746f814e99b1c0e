/**
 * The voter's program: connects to the voting server over TLS, verifying its
 * certificate against the election's CA and the host name, then runs the
 * session. There is no switch that turns verification off.
 *
 * @module
 */

import {
  ExitCode,
  formatFlags,
  parseFlags,
  printError,
  UsageError,
  VERSION,
} from "./lib/terminal/cli.ts";
import type { FlagSpecs } from "./lib/terminal/cli.ts";
import { escapeForTerminal } from "./lib/terminal/escape.ts";
import { describeFsError } from "./lib/store/file_ops.ts";
import { INPUT_FILE_LIMITS, readInputText } from "./lib/store/input_file.ts";
import { InterruptedError, lineInput } from "./lib/client/line_input.ts";
import { connectTls } from "./lib/client/tls_client.ts";
import { parseCertificate } from "./lib/election/certificates.ts";
import { runVoterSession } from "./lib/client/voter_client.ts";
import {
  ElectionFileUnusableError,
  findElection,
} from "./lib/client/find_election.ts";
import type { ElectionPlaces } from "./lib/client/find_election.ts";
import { EMBEDDED_KIT_PATH, kitAddress } from "./lib/election/kit.ts";
import { fileURLToPath } from "node:url";

const FLAGS = {
  election: {
    type: "string",
    value: "FILE",
    help: "the election's election.json (see above)",
  },
  host: {
    type: "string",
    value: "HOST",
    help:
      "server's host name, checked against its certificate\n(default: the election's, else localhost)",
  },
  port: {
    type: "integer",
    value: "PORT",
    min: 1,
    max: 65535,
    help: "server's TCP port (default: the election's, else 4443)",
  },
  ca: {
    type: "string",
    value: "FILE",
    help:
      "the CA that signed the server's certificate, PEM, the only\none trusted (default: the election's, else certs/ca.crt)",
  },
  timeout: {
    type: "integer",
    value: "SECONDS",
    min: 1,
    max: 3600,
    default: 30,
    help: "time the server has to answer, each time",
  },
  help: { type: "boolean", short: "h", help: "show this help" },
  version: { type: "boolean", help: "show the version" },
} as const satisfies FlagSpecs;

const HELP =
  `election-client ${VERSION}: the secure election booth's voter's program

Usage: deno task client [options]

Connects to the voting server over TLS, asks for your name, registration
number and password, then shows the main menu: 1. Vote, 2. View election
result, 3. My vote history, 4. Exit. Answers may also be piped in, one per line.

The election (its name, server and CA) comes from election.json: the file
--election names, else the one built into the program (a different
election.json found on disk is then ignored, with a line saying so), else the
one in the working directory, else the one next to the program. Without one,
the defaults below.

Options:
${formatFlags(FLAGS)}

Exit status: 0 after Exit or end of input, 1 when the connection or the
session fails, 2 for a bad option or election file, 130 after Ctrl-C.`;

/**
 * Runs the client's command line.
 *
 * @param args The arguments, e.g. `Deno.args`.
 * @returns The exit status.
 */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(args, FLAGS);
    if (flags.host !== undefined && flags.host.trim() === "") {
      throw new UsageError(
        `Option "--host" takes a host name, not "${flags.host}"`,
      );
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`${error.message} (see --help)`);
    return ExitCode.Usage;
  }
  if (flags.help) {
    console.log(HELP);
    return ExitCode.Ok;
  }
  if (flags.version) {
    console.log(`election-client ${VERSION}`);
    return ExitCode.Ok;
  }
  let election;
  try {
    election = await findElection(electionPlaces(flags.election));
  } catch (error) {
    if (!(error instanceof ElectionFileUnusableError)) throw error;
    printError(escapeForTerminal(error.message, { newlines: false }));
    return ExitCode.Usage;
  }
  for (const path of election?.ignored ?? []) {
    printError(escapeForTerminal(
      `Ignoring election file "${path}": this client has its election built in (give --election to use another)`,
      { newlines: false },
    ));
  }
  const host = flags.host ?? election?.kit.host ?? "localhost";
  const port = flags.port ?? election?.kit.port ?? 4443;
  const caFlag = flags.ca;
  const timeoutSeconds = flags.timeout;
  const caPath = caFlag ?? election?.path ?? "certs/ca.crt";
  try {
    const ca = caFlag === undefined && election !== undefined
      ? election.kit.ca
      : await readCa(caPath);
    if (election !== undefined) {
      console.log(
        escapeForTerminal(
          `${election.kit.name} (${kitAddress({ host, port })})`,
          { newlines: false },
        ),
      );
    }
    const timeoutMs = timeoutSeconds * 1000;
    const fromKit = election !== undefined && flags.host === undefined &&
      flags.port === undefined;
    const connect = () =>
      connectTls({ host, port, ca, caPath, timeoutMs, fromKit });
    // Connected before the prompts, as the seed has it: a server that cannot
    // be reached is known before the voter types anything.
    const connection = await connect();
    try {
      await runVoterSession(
        connection,
        lineInput(),
        (line) => console.log(line),
        { answerTimeoutMs: timeoutMs, reconnect: connect },
      );
    } finally {
      connection.close();
    }
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof InterruptedError) return ExitCode.Interrupted;
    // Messages may quote what the server sent.
    printError(
      escapeForTerminal(
        error instanceof Error ? error.message : String(error),
        { newlines: false },
      ),
    );
    return ExitCode.Failure;
  }
}

/**
 * Where this client looks for its election: the compiled client also looks
 * next to itself and inside itself (`make build ELECTION=...`).
 */
function electionPlaces(explicit: string | undefined): ElectionPlaces {
  const compiled = Deno.build.standalone;
  return {
    explicit,
    cwd: Deno.cwd(),
    executable: compiled ? Deno.execPath() : undefined,
    embedded: compiled
      ? fileURLToPath(new URL(EMBEDDED_KIT_PATH, import.meta.url))
      : undefined,
  };
}

async function readCa(path: string): Promise<string> {
  let text: string;
  try {
    text = await readInputText(path, INPUT_FILE_LIMITS.small);
  } catch (error) {
    throw new Error(
      `Cannot read CA certificate "${path}": ${
        describeFsError(error)
      } (ask the election official for it, or run \`make certs\`)`,
    );
  }
  if (parseCertificate(text) === undefined) {
    throw new Error(
      `Cannot use CA certificate "${path}": it is not a PEM certificate`,
    );
  }
  return text;
}

if (import.meta.main) {
  Deno.addSignalListener("SIGINT", () => {
    try {
      if (Deno.stdin.isTerminal()) Deno.stdin.setRaw(false);
    } catch {
      // The terminal is already gone.
    }
    Deno.exit(ExitCode.Interrupted);
  });
  Deno.exit(await main(Deno.args));
}
