import type { BenchPayload, FromWorker, ToWorker, WorkerConfig } from "./protocol.ts";
import { now } from "./stats.ts";

/** A system's worker inside a benchmark worker process: created idle, started on "go". */
export interface BenchWorker {
  start(): Promise<void> | void;
  stop(): Promise<void>;
}

/** Counts and latency samples of one worker process, reported to the runner. */
export class Recorder {
  started = 0;
  completed = 0;
  failed = 0;
  firstStartAt = 0;
  lastCompleteAt = 0;
  private startSamples: number[] = [];
  private completeSamples: number[] = [];

  /** At handler entry, with the submission time carried in the payload. */
  onStart(payload: unknown): void {
    const at = now();
    this.started++;
    if (this.firstStartAt === 0) this.firstStartAt = at;
    const t = (payload as BenchPayload | null)?.t;
    if (typeof t === "number") this.startSamples.push(at - t);
  }

  /** When the system has recorded the completion (see each worker for what that means). */
  onComplete(submittedAt: number | undefined): void {
    const at = now();
    this.completed++;
    this.lastCompleteAt = at;
    if (typeof submittedAt === "number") this.completeSamples.push(at - submittedAt);
  }

  onFailed(): void {
    this.failed++;
  }

  /** The samples since the last call, as typed arrays; the recorder starts afresh. */
  take(): { start: Float64Array; complete: Float64Array } {
    const taken = {
      start: Float64Array.from(this.startSamples),
      complete: Float64Array.from(this.completeSamples),
    };
    this.startSamples = [];
    this.completeSamples = [];
    return taken;
  }
}

/**
 * The body of a worker process: builds the worker, says "ready", starts it on "go", reports progress
 * every 100 ms, hands over its samples on "collect", and exits on "stop" or when the runner goes away.
 */
export async function runWorkerProcess(
  create: (config: WorkerConfig, recorder: Recorder) => Promise<BenchWorker>,
): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
  const send = (message: FromWorker) => process.send?.(message);
  const recorder = new Recorder();
  const worker = await create(config, recorder);
  let progressTimer: NodeJS.Timeout | null = null;
  let lastSent = -1;
  const progress = (force = false) => {
    const total = recorder.started + recorder.completed + recorder.failed;
    if (!force && total === lastSent) return;
    lastSent = total;
    send({
      kind: "progress",
      index: config.index,
      started: recorder.started,
      completed: recorder.completed,
      failed: recorder.failed,
      firstStartAt: recorder.firstStartAt,
      lastCompleteAt: recorder.lastCompleteAt,
      rssBytes: process.memoryUsage.rss(),
    });
  };
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (progressTimer) clearInterval(progressTimer);
    await Promise.race([worker.stop(), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    progress(true);
    send({ kind: "stopped", index: config.index });
    process.exit(0);
  };
  process.on("disconnect", () => void stop());
  process.on("message", (message: ToWorker) => {
    switch (message.kind) {
      case "go":
        progressTimer = setInterval(() => progress(), 100);
        void Promise.resolve(worker.start()).catch((error: unknown) =>
          send({ kind: "error", index: config.index, message: String(error) }),
        );
        return;
      case "collect":
        progress(true);
        send({ kind: "samples", index: config.index, ...recorder.take() });
        return;
      case "stop":
        void stop();
        return;
    }
  });
  send({ kind: "ready", index: config.index });
}
