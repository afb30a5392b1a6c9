import { setTimeout as sleep } from "node:timers/promises";
import type { ChildProcess } from "node:child_process";
import { forkChild, isKind, nextMessage, rssOf, stopChild } from "./proc.ts";
import type {
  FromProducer,
  FromWorker,
  ProducerJob,
  ProducerResult,
  WorkerConfig,
  WorkerProgress,
} from "./protocol.ts";
import type { SystemUnderTest } from "./system.ts";
import { now } from "./stats.ts";

type Samples = Extract<FromWorker, { kind: "samples" }>;

/** What starting workers needs of a system (the takeover and soak benchmarks pass a cluster). */
export type WorkerSource = Pick<
  SystemUnderTest,
  "name" | "label" | "workerScript" | "workerConfig" | "workerExecArgv"
>;

/** What starting a producer needs of a system. */
export type ProducerSource = Pick<SystemUnderTest, "name" | "label" | "producerScript" | "producerConfig">;

/** W worker processes of one system, C slots each: forked idle, started together on `go()`. */
export class WorkerGroup {
  readonly children: ChildProcess[];
  readonly progress = new Map<number, WorkerProgress>();
  goAt = 0;

  private constructor(children: ChildProcess[]) {
    this.children = children;
    for (const child of children)
      child.on("message", (message: FromWorker) => {
        if (message.kind === "progress") this.progress.set(message.index, message);
        if (message.kind === "error") console.error(`bench: worker ${message.index}: ${message.message}`);
      });
  }

  static async start(system: WorkerSource, workers: number, slots: number): Promise<WorkerGroup> {
    const children = Array.from({ length: workers }, (_, index) => {
      const config: WorkerConfig = system.workerConfig(index, slots);
      return forkChild(system.workerScript, config, `${system.label}-worker-${index}`, {
        execArgv: system.workerExecArgv(),
      });
    });
    const group = new WorkerGroup(children);
    try {
      await Promise.all(
        children.map((child, i) => nextMessage(child, isKind("ready"), 60_000, `${system.name} worker ${i}`)),
      );
    } catch (error) {
      await group.stop();
      throw error;
    }
    return group;
  }

  /** Starts every worker at once; the drain clock starts here. */
  go(): void {
    this.goAt = now();
    for (const child of this.children) child.send({ kind: "go" });
  }

  private sum(field: "started" | "completed" | "failed"): number {
    let total = 0;
    for (const p of this.progress.values()) total += p[field];
    return total;
  }

  get started(): number {
    return this.sum("started");
  }

  get completed(): number {
    return this.sum("completed");
  }

  get failed(): number {
    return this.sum("failed");
  }

  get firstStartAt(): number {
    const starts = [...this.progress.values()].map((p) => p.firstStartAt).filter((t) => t > 0);
    return starts.length > 0 ? Math.min(...starts) : Number.NaN;
  }

  get lastCompleteAt(): number {
    return Math.max(0, ...[...this.progress.values()].map((p) => p.lastCompleteAt));
  }

  /** Waits (polling the 100 ms progress reports) until `target` completions; false on timeout. */
  async waitCompleted(target: number, timeoutMs: number): Promise<boolean> {
    const until = now() + timeoutMs;
    while (this.completed < target) {
      if (now() > until || this.children.every((c) => c.exitCode !== null)) return false;
      await sleep(20);
    }
    return true;
  }

  /** Every worker's latency samples since the last collect, concatenated. */
  async collect(): Promise<{ start: Float64Array; complete: Float64Array }> {
    const replies = await Promise.all(
      this.children.map((child, i) => {
        const reply = nextMessage(child, isKind<Samples>("samples"), 30_000, `worker ${i} samples`);
        child.send({ kind: "collect" });
        return reply;
      }),
    );
    const concat = (parts: Float64Array[]) => {
      const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const part of parts) {
        out.set(part, at);
        at += part.length;
      }
      return out;
    };
    return { start: concat(replies.map((r) => r.start)), complete: concat(replies.map((r) => r.complete)) };
  }

  /** Resident memory of each worker process now, in bytes. */
  rss(): number[] {
    return this.children.map((child) => rssOf(child.pid));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        if (child.connected) child.send({ kind: "stop" });
        const timer = setTimeout(() => void stopChild(child, 2000), 20_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** A producer process of one system, running one job at a time. */
export class Producer {
  readonly child: ChildProcess;

  private constructor(child: ChildProcess) {
    this.child = child;
  }

  static async start(system: ProducerSource): Promise<Producer> {
    const child = forkChild(system.producerScript, system.producerConfig(), `${system.label}-producer`);
    const producer = new Producer(child);
    try {
      await nextMessage(child, isKind("ready"), 60_000, `${system.name} producer`);
    } catch (error) {
      await producer.stop();
      throw error;
    }
    return producer;
  }

  async run(job: ProducerJob): Promise<ProducerResult> {
    const bound = job.kind === "preload" ? Math.max(300_000, job.count * 2) : (job.seconds + 120) * 1000;
    const reply = nextMessage(
      this.child,
      (m: unknown): m is FromProducer => isKind("result")(m) || isKind("error")(m),
      bound,
      `producer ${job.kind}`,
    );
    this.child.send(job);
    const message = await reply;
    if (message.kind !== "result")
      throw new Error(`producer failed: ${"message" in message ? message.message : "?"}`);
    if (message.errors > 0)
      console.error(`bench: ${message.errors} submission error(s): ${message.firstError}`);
    return message;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => void stopChild(this.child, 2000), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
