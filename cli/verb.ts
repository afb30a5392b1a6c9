import { parseArgs } from "node:util";
import { ApiClient, ApiError, serverUrl, UnreachableError } from "./client/api-client.ts";
import { CONFIG_FLAGS, CONFIG_OPTIONS } from "./config.ts";
import { TaskstreamError } from "../domain/task/index.ts";

/**
 * How every verb is declared and run: its flags (each with a line of help), its arguments and an
 * example, so that `--help`, `--json`, flag checking and exit codes behave the same everywhere.
 * Exit codes: 0 done, 1 the operation failed (the server said no, a check found differences),
 * 2 the command line was wrong (an unknown flag, a missing argument, a bad value).
 */

export interface Flag {
  type: "string" | "boolean";
  /** The value's placeholder in the help (`--state STATE`). */
  value?: string;
  help: string;
  short?: string;
}

export interface Verb {
  /** As typed: `list`, `dead-letters retry`. */
  name: string;
  summary: string;
  /** Positional arguments, e.g. `ID` or `TYPE` (`[ID]` when optional). */
  args?: string[];
  flags: Record<string, Flag>;
  examples: string[];
  /** Talks to a running server (adds --url and --api-key). */
  client?: boolean;
  /** Reads Redis and PostgreSQL itself (adds the server's configuration flags). */
  config?: boolean;
  /** Has no --json (it runs a server). */
  noJson?: boolean;
  run(context: VerbContext): Promise<void>;
}

/** The command line was wrong: exit code 2, with the verb's usage line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const COMMON: Record<string, Flag> = {
  json: { type: "boolean", help: "print JSON instead of text" },
  help: { type: "boolean", short: "h", help: "show this help" },
};
const CLIENT: Record<string, Flag> = {
  url: {
    type: "string",
    value: "URL",
    help: "the server's HTTP address (TASKSTREAM_URL; default http://127.0.0.1:8080)",
  },
  "api-key": { type: "string", value: "KEY", help: "sent as a bearer token (TASKSTREAM_API_KEY)" },
  // The earlier name of --url, still accepted.
  api: { type: "string", value: "URL", help: "" },
};

/** GraphQL's Int: the largest integer a flag may carry. */
const INT32_MAX = 2 ** 31 - 1;

export class VerbContext {
  private client: ApiClient | undefined;
  readonly verb: Verb;
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
  /** The command line as given (after the verb). */
  readonly argv: string[];
  constructor(
    verb: Verb,
    values: Record<string, string | boolean | undefined>,
    positionals: string[],
    argv: string[],
  ) {
    this.verb = verb;
    this.values = values;
    this.positionals = positionals;
    this.argv = argv;
  }

  get json(): boolean {
    return this.values.json === true;
  }

  /** The server these calls go to. */
  get api(): ApiClient {
    const url = serverUrl(this.string("url") ?? this.string("api"));
    this.client ??= new ApiClient(url, this.string("api-key") ?? process.env.TASKSTREAM_API_KEY);
    return this.client;
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === "string" ? value : undefined;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  /** A required positional argument, by its place and its name in the usage. */
  arg(index: number, name: string): string {
    const value = this.positionals[index];
    if (value === undefined || value === "") throw new UsageError(`${name} is required`);
    return value;
  }

  /** An integer flag within bounds, or undefined when not given. */
  int(name: string, min: number, max = INT32_MAX): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isInteger(value) || value < min || value > max)
      throw new UsageError(
        `--${name}: must be an integer from ${min}${max === INT32_MAX ? " up" : ` to ${max}`}, got "${raw}"`,
      );
    return value;
  }

  /** A number flag (not negative), or undefined when not given. */
  number(name: string): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value) || value < 0)
      throw new UsageError(`--${name}: must be a number, 0 or more, got "${raw}"`);
    return value;
  }

  /** A JSON flag, parsed. */
  jsonValue(name: string): unknown {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as unknown;
    } catch (error) {
      throw new UsageError(`--${name}: not valid JSON (${(error as Error).message})`);
    }
  }

  /** One of the allowed values (upper-cased), or undefined when not given. */
  choice(name: string, allowed: readonly string[]): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const value = raw.toUpperCase();
    if (!allowed.includes(value))
      throw new UsageError(`--${name}: must be one of ${allowed.join(", ")}, got "${raw}"`);
    return value;
  }

  /** Prints `value` as JSON with --json, else the human text. */
  print(human: () => string, value: unknown): void {
    console.log(this.json ? JSON.stringify(value, null, 2) : human());
  }
}

/** All flags a verb accepts, its own first. */
function flagsOf(verb: Verb): Record<string, Flag> {
  return {
    ...verb.flags,
    ...(verb.noJson ? { help: COMMON.help! } : COMMON),
    ...(verb.client ? CLIENT : {}),
  };
}

/** `taskstream <verb> --help`. */
export function helpText(verb: Verb): string {
  const flags = Object.entries(flagsOf(verb)).filter(([, flag]) => flag.help !== "");
  const left = flags.map(
    ([name, flag]) => `${flag.short ? `-${flag.short}, ` : ""}--${name}${flag.value ? ` ${flag.value}` : ""}`,
  );
  const width = Math.max(...left.map((l) => l.length));
  const usage = `taskstream ${verb.name}${verb.args?.length ? ` ${verb.args.join(" ")}` : ""} [flags]`;
  return [
    `${verb.summary}`,
    "",
    `usage: ${usage}`,
    "",
    "flags:",
    ...flags.map(([, flag], i) => `  ${left[i]!.padEnd(width)}  ${flag.help}`),
    ...(verb.config ? configHelp() : []),
    "",
    verb.examples.length > 1 ? "examples:" : "example:",
    ...verb.examples.map((example) => `  ${example}`),
  ].join("\n");
}

/** The server's configuration flags: a flag beats its variable, which beats the default. */
function configHelp(): string[] {
  const width = Math.max(...CONFIG_FLAGS.map(({ flag }) => flag.length + 8));
  return [
    "",
    "configuration (a flag beats its variable, which beats the default):",
    ...CONFIG_FLAGS.map(
      ({ flag, variable, fallback }) =>
        `  ${`--${flag} VALUE`.padEnd(width)}  ${variable}${fallback ? ` (default ${fallback})` : ""}`,
    ),
  ];
}

/** Parses the verb's command line, or throws a UsageError that names the bad flag. */
export function parseVerbArgs(verb: Verb, argv: string[]): VerbContext {
  const options = Object.fromEntries(
    Object.entries(flagsOf(verb)).map(([name, flag]) => [
      name,
      flag.short ? { type: flag.type, short: flag.short } : { type: flag.type },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: verb.config ? { ...CONFIG_OPTIONS, ...options } : options,
      allowPositionals: true,
      strict: true,
    });
    const context = new VerbContext(
      verb,
      values as Record<string, string | boolean | undefined>,
      positionals,
      argv,
    );
    const most = verb.args?.length ?? 0;
    if (!context.flag("help") && positionals.length > most)
      throw new UsageError(`unexpected argument "${positionals[most]}"`);
    return context;
  } catch (error) {
    throw usageFromParseArgs(error);
  }
}

/** Node's parseArgs errors, rewritten to name the flag in a short sentence. */
function usageFromParseArgs(error: unknown): unknown {
  if (!(error instanceof Error) || !("code" in error)) return error;
  const quoted = /'([^']+)'/.exec(error.message)?.[1] ?? "";
  const flag = quoted.split(" ")[0] ?? quoted;
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown flag ${flag}`);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/argument missing/.test(error.message)) return new UsageError(`${flag} needs a value`);
      if (/ambiguous/.test(error.message))
        return new UsageError(`${flag}: a value starting with "-" is written ${flag}=VALUE`);
      return new UsageError(`${flag} takes no value`);
    default:
      return new UsageError(error.message);
  }
}

/** Runs a verb: its help when asked, else its work. */
export async function runVerb(verb: Verb, argv: string[]): Promise<void> {
  const context = parseVerbArgs(verb, argv);
  if (context.flag("help")) {
    console.log(helpText(verb));
    return;
  }
  await verb.run(context);
}

/** What to print for a failure, and the exit code: 2 for the command line, 1 for the rest. */
export function describeFailure(error: unknown): { message: string; code: number } {
  if (error instanceof UsageError) return { message: error.message, code: 2 };
  if (error instanceof ApiError) return { message: error.describe(), code: 1 };
  if (error instanceof UnreachableError) return { message: error.message, code: 1 };
  if (error instanceof TaskstreamError)
    return { message: error.message, code: error.code === "VALIDATION" ? 2 : 1 };
  // A connection failure of Redis or PostgreSQL (replay, verify) carries a system code.
  if (error instanceof Error && typeof (error as { code?: unknown }).code === "string")
    return { message: error.message, code: 1 };
  return { message: error instanceof Error ? (error.stack ?? error.message) : String(error), code: 1 };
}
