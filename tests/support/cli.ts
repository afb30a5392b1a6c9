import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

/** How a `taskstream` command ended: its exit code and what it printed. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `taskstream <args>` as an operator would (`node cli/main.ts`, a process of its own), with
 * none of this process's TASKSTREAM_* variables: only `env` and the flags say where to connect.
 */
export function taskstream(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("TASKSTREAM_")),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { ...inherited, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A `taskstream` command still running (a `--watch`): what it printed so far, and how to wait on it. */
export interface RunningCli {
  /** Resolves with everything printed once stdout matches `pattern`; rejects if the command ends first. */
  printed(pattern: RegExp): Promise<string>;
  /** Sends `signal` (SIGINT by default) and resolves with how it ended. */
  stop(signal?: NodeJS.Signals): Promise<CliRun>;
  /** How it ended, once it does by itself. */
  ended: Promise<CliRun>;
}

/** Starts `taskstream <args>` like `taskstream()` does, without waiting for it to end. */
export function startTaskstream(args: string[], env: Record<string, string> = {}): RunningCli {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("TASKSTREAM_")),
  );
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const wake of waiters) wake();
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<CliRun>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code, stdout, stderr });
      for (const wake of waiters) wake();
    });
  });
  return {
    ended,
    printed(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(stdout)) {
            waiters.delete(check);
            resolve(stdout);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            reject(new Error(`taskstream ended before printing ${pattern}:\n${stdout}\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = "SIGINT") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return ended;
    },
  };
}
