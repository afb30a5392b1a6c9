import type { SubmitSpec, TaskstreamClient } from "../../sdk/typescript/src/index.ts";
import type { Lang, WorkerCommand } from "./languages.ts";
import type { Stack } from "./stack.ts";
import type { Verdict } from "./verdict.ts";
import { WorkerProcess } from "./worker-process.ts";

/** Submission options of a scenario's task: the spec's fields besides type and payload. */
export type TaskOptions = Omit<SubmitSpec, "type" | "payload">;

/** Everything a scenario reaches: the stack, the API client and the workers. */
export class Fleet {
  readonly stack: Stack;
  readonly client: TaskstreamClient;
  /** The languages under test, each with how to start its worker. */
  readonly commands: Map<Lang, WorkerCommand>;
  /** Each language's main worker, registered as `cf-<lang>.<behaviour>`. */
  readonly main = new Map<Lang, WorkerProcess>();
  /** Every worker process started, so the suite can end them all. */
  readonly processes: WorkerProcess[] = [];
  private readonly dir: string;

  constructor(stack: Stack, client: TaskstreamClient, commands: Map<Lang, WorkerCommand>, dir: string) {
    this.stack = stack;
    this.client = client;
    this.commands = commands;
    this.dir = dir;
  }

  get langs(): Lang[] {
    return [...this.commands.keys()];
  }

  /** Starts a conformance worker of `lang` connected to the stack's dispatcher. */
  async startWorker(
    lang: Lang,
    options: { prefix: string; labels?: Record<string, string>; slots?: number; name?: string },
  ): Promise<WorkerProcess> {
    const command = this.commands.get(lang);
    if (!command) throw new Error(`no worker command for ${lang}`);
    const worker = await WorkerProcess.start({
      lang,
      command,
      addresses: [this.stack.dispatcherAddress],
      dir: this.dir,
      ...options,
    });
    this.processes.push(worker);
    return worker;
  }

  /** Submits over REST with a W3C `traceparent` header, as a traced producer would; resolves with the id. */
  async submitTraced(prefix: string, behaviour: string, payload: unknown, traceparent: string) {
    const reply = await fetch(`${this.stack.api.httpUrl}/v1/tasks`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        traceparent,
        authorization: `Bearer ${this.stack.apiKey}`,
      },
      body: JSON.stringify({ type: `${prefix}.${behaviour}`, payload }),
    });
    if (reply.status !== 201)
      throw new Error(`POST /v1/tasks answered ${reply.status}: ${await reply.text()}`);
    return ((await reply.json()) as { id: string }).id;
  }

  /** Submits `<prefix>.<behaviour>` with a JSON payload; resolves with the task id. */
  async submit(prefix: string, behaviour: string, payload: unknown, options: TaskOptions = {}) {
    const { id } = await this.client.submit({ ...options, type: `${prefix}.${behaviour}`, payload });
    return id;
  }
}

/** What a per-language scenario sees: its language, the main worker and the fleet. */
export interface LangContext {
  lang: Lang;
  fleet: Fleet;
  worker: WorkerProcess;
  /** A worker prefix unique to this scenario and language (for workers it starts itself). */
  prefix: string;
  /** Submits a behaviour to the main worker. */
  submit: (behaviour: string, payload: unknown, options?: TaskOptions) => Promise<string>;
}

/**
 * A scenario of SPEC.md. `each` runs once per language against that language's workers (all
 * languages at once); `fleet` runs once with the workers of every language and judges each
 * language apart (labels routing needs them together; reconnection restarts the one dispatcher).
 */
export type Scenario =
  | { name: string; kind: "each"; run(ctx: LangContext, verdict: Verdict): Promise<void> }
  | { name: string; kind: "fleet"; run(fleet: Fleet, verdicts: Map<Lang, Verdict>): Promise<void> };
