import { fork, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root and the benchmark's scratch directory (git-ignored). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const OUT = join(ROOT, "bench", "out");
export const LOGS = join(OUT, "logs");

/** Every child process the runner started and that has not exited yet. */
const children = new Set<ChildProcess>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // Whatever way the runner ends, no child outlives it.
  process.on("exit", () => {
    for (const child of children) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      console.error(`bench: ${signal}, stopping ${children.size} child process(es)`);
      for (const child of children) child.kill("SIGTERM");
      setTimeout(() => process.exit(130), 3000).unref();
    });
  }
}

function track(child: ChildProcess, name: string): ChildProcess {
  hookExit();
  children.add(child);
  child.once("exit", () => children.delete(child));
  mkdirSync(LOGS, { recursive: true });
  const log = createWriteStream(join(LOGS, `${name}.log`), { flags: "a" });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once("exit", () => setTimeout(() => log.end(), 50));
  return child;
}

/** Forks a TypeScript module as an IPC child (structured-clone serialization); output goes to its log. */
export function forkChild(
  script: string,
  config: unknown,
  name: string,
  options: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  const child = fork(join(ROOT, script), [JSON.stringify(config)], {
    cwd: ROOT,
    execArgv: ["--disable-warning=ExperimentalWarning", ...(options.execArgv ?? [])],
    env: options.env ?? process.env,
    serialization: "advanced",
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  return track(child, name);
}

/** Spawns a plain process (the Taskstream server) whose output goes to its log and to `onLine`. */
export function spawnChild(
  args: string[],
  env: NodeJS.ProcessEnv,
  name: string,
  onLine: (line: string) => void,
): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let buffered = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
    if (buffered.length > 65536) buffered = "";
  });
  return track(child, name);
}

/** Resolves with the first IPC message that `accept` takes, or rejects on exit or timeout. */
export function nextMessage<T>(
  child: ChildProcess,
  accept: (message: unknown) => message is T,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    const onMessage = (message: unknown) => {
      if (!accept(message)) return;
      done();
      resolve(message);
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`${what}: the process exited (code ${code}) first`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Asks a child to end (signal, or an IPC disconnect), then kills it if it has not exited in time. */
export async function stopChild(child: ChildProcess, timeoutMs = 15_000, signal: NodeJS.Signals = "SIGTERM") {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** The resident set size of a process, in bytes (0 once it is gone). */
export function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** How many children are still running (the runner checks it is 0 at the end). */
export function liveChildren(): number {
  return children.size;
}

/** A guard for IPC messages of one kind: `isKind<ProducerResult>("result")`. */
export function isKind<T extends { kind: string }>(kind: T["kind"]) {
  return (message: unknown): message is T =>
    typeof message === "object" && message !== null && (message as { kind?: unknown }).kind === kind;
}
