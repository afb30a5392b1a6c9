import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { EffectsLog } from "./effects.ts";
import type { Lang, WorkerCommand } from "./languages.ts";

/** What a conformance worker is started with (SPEC.md's environment variables). */
export interface WorkerSettings {
  lang: Lang;
  command: WorkerCommand;
  addresses: string[];
  prefix: string;
  /** Directory of the effects files; each worker process gets a file of its own. */
  dir: string;
  labels?: Record<string, string>;
  slots?: number;
  name?: string;
  graceMs?: number;
  /** Where the effects go instead of `<dir>/<name>.jsonl` (e.g. /dev/null in a benchmark). */
  effectsPath?: string;
}

/** How long a worker may take from spawn to its ready line (an interpreter's start included). */
const READY_TIMEOUT_MS = 60_000;
let started = 0;
/** Every worker process spawned and not exited yet, ready or not (for `killAll`). */
const live = new Set<ChildProcess>();

/**
 * A conformance worker running as a child process: started, waited for until it prints
 * `ready <worker id>`, and then stopped (SIGTERM), killed (SIGKILL) or left to the suite's cleanup.
 * Its stderr is kept (the last 64 KB) so a failing scenario can show what the worker said.
 */
export class WorkerProcess {
  readonly lang: Lang;
  readonly name: string;
  readonly prefix: string;
  readonly effects: EffectsLog;
  readonly child: ChildProcess;
  /** The worker id of its ready line. */
  id = "";
  private stderr = "";
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(settings: WorkerSettings, name: string) {
    this.lang = settings.lang;
    this.name = name;
    this.prefix = settings.prefix;
    const effectsPath = settings.effectsPath ?? join(settings.dir, `${name}.jsonl`);
    this.effects = new EffectsLog(effectsPath);
    const { command, args, cwd } = settings.command;
    this.child = spawn(command, args, {
      cwd,
      env: {
        ...process.env,
        TASKSTREAM_ADDRESSES: settings.addresses.join(","),
        CONFORMANCE_PREFIX: settings.prefix,
        CONFORMANCE_LANG: settings.lang,
        CONFORMANCE_LABELS: JSON.stringify(settings.labels ?? {}),
        CONFORMANCE_SLOTS: String(settings.slots ?? 4),
        CONFORMANCE_NAME: name,
        CONFORMANCE_EFFECTS: effectsPath,
        CONFORMANCE_GRACE_MS: String(settings.graceMs ?? 10_000),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-65_536);
    });
    live.add(this.child);
    this.child.once("exit", () => live.delete(this.child));
    this.exit = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => resolve({ code, signal }));
      this.child.once("error", (error) => {
        this.stderr += `\nspawn failed: ${error.message}`;
        resolve({ code: null, signal: null });
      });
    });
  }

  /** SIGKILLs every worker process still running, at once (for an interrupted suite). */
  static killAll(): void {
    for (const child of live) child.kill("SIGKILL");
  }

  /** Starts a worker and resolves once it has printed its ready line. */
  static async start(settings: WorkerSettings): Promise<WorkerProcess> {
    const name = settings.name ?? `conformance-${settings.lang}-${++started}`;
    const worker = new WorkerProcess(settings, name);
    worker.id = await worker.readyLine();
    return worker;
  }

  private readyLine(): Promise<string> {
    return new Promise((resolve, reject) => {
      let stdout = "";
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        reject(new Error(`${this.name} printed no ready line within ${READY_TIMEOUT_MS} ms${this.tail()}`));
      }, READY_TIMEOUT_MS);
      this.child.stdout!.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /^ready (\S+)$/m.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void this.exit.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) before its ready line${this.tail()}`));
      });
    });
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM (a graceful stop), then the exit code, or null if it did not exit within `timeoutMs`. */
  async terminate(timeoutMs = 30_000): Promise<number | null> {
    if (this.alive) this.child.kill("SIGTERM");
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs).unref());
    const exited = await Promise.race([this.exit, timeout]);
    return exited === null ? null : exited.code;
  }

  /** SIGKILL: a crash, with no goodbye to the dispatcher. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill("SIGKILL");
    await this.exit;
  }

  /** The end of what the worker wrote to stderr, for a failure message. */
  tail(): string {
    const text = this.stderr.trim();
    return text ? `\n  ${this.name} stderr: ${text.split("\n").slice(-8).join("\n  ")}` : "";
  }
}
