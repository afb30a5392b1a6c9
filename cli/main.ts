import { startTelemetry } from "../observability/telemetry.ts";
import { describeFailure, runVerb, UsageError } from "./verb.ts";
import { isEntry, overview, VERBS, type Entry } from "./registry.ts";

/** The verbs that run roles, and so are traced when OpenTelemetry is configured. */
const TRACED_VERBS = new Set(["serve", "dev"]);

/**
 * The `taskstream` program: one binary, a verb per role or operator action (cli/registry.ts).
 * Verbs that manage tasks, queues, workers and schedules are clients of a running server (--url);
 * serve, dev and migrate run it; replay and verify read the log and the read model themselves.
 */

/** The verb the command line names, with the rest of it; or a usage error. */
function resolve(args: string[]): { name: string; entry: Entry; rest: string[] } | "help" {
  const [first, second, ...others] = args;
  if (first === undefined || first === "help" || first === "--help" || first === "-h") return "help";
  const value = VERBS[first];
  if (!value) throw new UsageError(`unknown verb "${first}"; taskstream help lists them`);
  if (isEntry(value)) return { name: first, entry: value, rest: args.slice(1) };
  const subs = Object.keys(value).join(", ");
  if (second === undefined || second === "--help" || second === "-h" || second === "help") {
    // Asked for: on stdout; a verb left out: on stderr, exit code 2.
    const print = second === undefined ? console.error : console.log;
    print(`taskstream ${first} <${Object.keys(value).join("|")}> [flags]\n`);
    for (const [sub, entry] of Object.entries(value)) print(`  ${first} ${sub.padEnd(10)} ${entry.summary}`);
    if (second === undefined) process.exitCode = 2;
    return "help";
  }
  const entry = value[second];
  if (!entry) throw new UsageError(`unknown verb "${first} ${second}"; one of: ${subs}`);
  return { name: `${first} ${second}`, entry, rest: others };
}

async function main(args: string[]): Promise<void> {
  let name = VERBS[args[0] ?? ""] ? args[0]! : "";
  try {
    const resolved = resolve(args);
    if (resolved === "help") {
      if (process.exitCode === undefined && !VERBS[name]) console.log(overview());
      return;
    }
    name = resolved.name;
    // OpenTelemetry first, when configured: the modules it instruments must be imported after it.
    if (TRACED_VERBS.has(name)) await startTelemetry();
    await runVerb(await resolved.entry.load(), resolved.rest);
  } catch (error) {
    const { message, code } = describeFailure(error);
    const hint = code === 2 && VERBS[args[0] ?? ""] ? `\n(taskstream ${name} --help shows its flags)` : "";
    console.error(`taskstream${name ? ` ${name}` : ""}: ${message}${hint}`);
    process.exit(code);
  }
}

void main(process.argv.slice(2));
